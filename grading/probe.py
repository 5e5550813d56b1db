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
