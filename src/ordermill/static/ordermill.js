// Small conveniences; every page works without this file.
"use strict";
document.addEventListener("click", function (event) {
  const target = event.target.closest("[data-print]");
  if (target) {
    event.preventDefault();
    window.print();
  }
});
document.addEventListener("submit", function (event) {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  // One click, one request: a second click while the first is on its way does nothing.
  if (form.dataset.sent === "1") {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "1";
});
document.addEventListener("change", function (event) {
  const all = event.target.closest("[data-select-all]");
  if (all) {
    document.querySelectorAll(all.getAttribute("data-select-all")).forEach(function (box) {
      box.checked = all.checked;
    });
  }
});
