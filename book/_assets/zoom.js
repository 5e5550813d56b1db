// A figure shrunk to fit the text column (on a phone most are, to about a third of their size)
// becomes a link to its image file: a tap opens it at full size, where the reader can zoom.
// tests/test_book_browser.py::test_shrunk_figures_open_at_full_size checks it on every page.
(function () {
  "use strict";
  function linkIfShrunk(img) {
    if (img.closest("a, .animation") || !img.naturalWidth) return;
    if (img.naturalWidth <= 1.2 * img.getBoundingClientRect().width) return;
    var link = document.createElement("a");
    link.href = img.currentSrc || img.src;
    link.className = "figure-zoom";
    link.title = "Open the figure at full size";
    img.replaceWith(link);
    link.appendChild(img);
    var hint = document.createElement("span");        // the title is not read out: say it
    hint.className = "visually-hidden";
    hint.textContent = " (opens the figure at full size)";
    link.appendChild(hint);
  }
  function scan() {
    document.querySelectorAll("article .cell_output img, article figure img").forEach(function (img) {
      if (img.complete) linkIfShrunk(img);
      else img.addEventListener("load", function () { linkIfShrunk(img); }, { once: true });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan);
  else scan();
  window.addEventListener("resize", scan);
})();
