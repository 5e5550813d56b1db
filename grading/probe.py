"""The start-up probe's advice screen: why bubblewrap cannot build a jail here, and what to do.

`grading.sandbox.probe` runs one ``bwrap ... true`` with the real jail's options; when every
try fails, :func:`explain` turns the error and what this machine shows into one screen.
"""
import os
from pathlib import Path


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def explain(error: str, bwrap: str = "bwrap") -> str:
    """Why bubblewrap could not build a jail here, and what to do (one screen); `bwrap` is the
    program that was tried (the wheel's is not on PATH)."""
    lines = [f"The grading jail (bubblewrap) cannot start on this machine: {error}",
             "No student code was run: `make grade` changes no grade; `nbgrader autograde` and "
             "the formgrader leave every test cell for a person."]
    if _read("/proc/sys/kernel/unprivileged_userns_clone") == "0" or \
            _read("/proc/sys/user/max_user_namespaces") == "0":
        lines.append("- Unprivileged user namespaces are switched off. An administrator can allow "
                     "them: sysctl -w kernel.unprivileged_userns_clone=1 user.max_user_namespaces=15000 "
                     "(and in /etc/sysctl.d/ to keep it).")
    if _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
        lines.append("- AppArmor restricts user namespaces (Ubuntu 23.10 and later). An administrator "
                     "installs Ubuntu's `bubblewrap` (apt install bubblewrap: its AppArmor profile "
                     "bwrap-userns-restrict allows /usr/bin/bwrap, which the grader then uses), or "
                     "gives the wheel's bwrap a profile with `userns,`.")
    if "Seccomp:\t2" in _read("/proc/self/status") and (os.path.exists("/.dockerenv") or
                                                        os.path.exists("/run/.containerenv")):
        lines.append("- This is a container with a seccomp filter: Docker's default profile refuses "
                     "the unshare/clone calls bubblewrap needs. Start the container with a profile "
                     "that allows them (--security-opt seccomp=<profile.json>) and, on an AppArmor "
                     "host, --security-opt apparmor=unconfined.")
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        lines.append("- This is a Kubernetes pod: the RuntimeDefault seccomp profile blocks user "
                     "namespaces. Zero to JupyterHub: singleuser.extraPodConfig.securityContext."
                     "seccompProfile.type: Unconfined (or a Localhost profile that allows unshare); "
                     "a masked /proc is handled (the jail then runs without /proc).")
    if len(lines) == 2:
        lines.append(f"- Check that `{bwrap} --unshare-all --unshare-user true` works for this user; "
                     "the Instructor guide's section 'Where grading runs' lists what each platform needs.")
    return "\n".join(lines)


def _outside(path: str, binds) -> bool:
    path = os.path.realpath(path)
    return not any(path == b or path.startswith(b.rstrip(os.sep) + os.sep) for b in [*binds, "/usr"])


def pth_outside(binds) -> list[str]:
    """The .pth files of this Python's site-packages that add folders the jail does not show
    (outside `binds` and /usr): "file -> folder" each."""
    import site
    out = []
    for folder in dict.fromkeys(site.getsitepackages()):
        for pth in sorted(Path(folder).glob("*.pth")):
            try:
                lines = pth.read_text(errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                line = line.strip()
                if not line or line.startswith(("#", "import ", "import\t")):
                    continue
                target = line if os.path.isabs(line) else os.path.join(folder, line)
                if os.path.isdir(target) and _outside(target, binds):
                    out.append(f"{pth} -> {os.path.realpath(target)}")
    return out


def explain_python(error: str, binds) -> str:
    """Why the jail's Python cannot import what the grader's runner needs (numpy), and what to
    do (one screen); `binds` are the folders of the Python installation that the jail shows."""
    import sys
    lines = ["The grading jail starts, but Python cannot import what the grader needs in it "
             f"({error}).",
             "No student code was run: `make grade` changes no grade; `nbgrader autograde` and "
             "the formgrader leave every test cell for a person.",
             f"The jail shows only this Python's own folders ({', '.join(binds)}) and /usr; "
             "packages found elsewhere are missing in it."]
    try:
        import numpy
        where = os.path.dirname(os.path.dirname(os.path.realpath(numpy.__file__)))
        if _outside(where, binds):
            lines.append(f"- numpy comes from {where}, outside those folders.")
    except ImportError:
        pass
    for item in pth_outside(binds):
        lines.append(f"- A .pth file adds a folder the jail does not show: {item}.")
    lines.append(f"- Install the course's packages into this Python's environment itself: "
                 f"{sys.executable} -m pip install -r requirements.txt (a venv of its own, not "
                 f"one that borrows another environment's packages), or grade with the Python "
                 f"of the environment that holds them.")
    return "\n".join(lines)
