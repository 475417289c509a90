// A select marked data-submits-form submits its form when changed (filters).
document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-submits-form]");
  if (select) select.form.requestSubmit();
});

// A form marked data-confirm asks before it submits (deletions).
document.addEventListener("submit", (event) => {
  const question = event.target.dataset?.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

// Entering an amount field that holds zero ("0,00") selects it, so what is typed replaces it rather than follows it.
document.addEventListener("focusin", (event) => {
  const field = event.target.closest("input[data-amount]");
  if (field && /^0+([.,]0*)?$/.test(field.value.trim())) field.select();
});

// A button marked data-print prints the page (with the print stylesheet).
document.addEventListener("click", (event) => {
  if (event.target.closest("button[data-print]")) window.print();
});

// A checkbox marked data-confirm-unchecked asks before its form is submitted with it unchecked when it was
// checked (deactivating a user), saying what will happen.
document.addEventListener("submit", (event) => {
  const box = event.target.querySelector?.("input[type=checkbox][data-confirm-unchecked]");
  if (box && box.defaultChecked && !box.checked && !window.confirm(box.dataset.confirmUnchecked)) {
    event.preventDefault();
  }
});

// On a narrow screen the navigation is a menu: its button opens and closes it.
document.addEventListener("click", (event) => {
  const button = event.target.closest("#menu-button");
  if (!button) return;
  const open = button.getAttribute("aria-expanded") !== "true";
  button.setAttribute("aria-expanded", String(open));
  button.closest(".topbar").classList.toggle("open", open);
});

// The navigation's More: its button opens and closes the links under it; a click elsewhere, or Escape, closes them.
function openMore(open) {
  const more = document.querySelector(".topbar .more");
  if (!more) return;
  more.classList.toggle("open", open);
  more.querySelector(".more-button").setAttribute("aria-expanded", String(open));
}
document.addEventListener("click", (event) => {
  const button = event.target.closest(".topbar .more-button");
  if (button) openMore(button.getAttribute("aria-expanded") !== "true");
  else if (!event.target.closest(".topbar .more-links")) openMore(false);
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && document.querySelector(".topbar .more.open")) {
    openMore(false);
    document.querySelector(".topbar .more-button").focus();
  }
});

// A table wider than its box scrolls inside it: the box then takes the keyboard's focus, so it can be scrolled
// without a mouse, and its right edge fades while more of the table lies that way.
function focusableScrollBoxes() {
  for (const box of document.querySelectorAll(".scroll")) {
    if (box.scrollWidth > box.clientWidth) box.setAttribute("tabindex", "0");
    else box.removeAttribute("tabindex");
    moreToTheRight(box);
  }
}
function moreToTheRight(box) {
  box.classList.toggle("more-right", box.scrollLeft + box.clientWidth < box.scrollWidth - 1);
}
document.addEventListener("DOMContentLoaded", focusableScrollBoxes);
window.addEventListener("resize", focusableScrollBoxes);
document.addEventListener("htmx:afterSettle", focusableScrollBoxes);
document.addEventListener("lists:shown", focusableScrollBoxes); // static/lists.js: the lists' columns changed
document.addEventListener(
  "scroll",
  (event) => {
    if (event.target.classList?.contains("scroll")) moreToTheRight(event.target);
  },
  true,
);
