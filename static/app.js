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

// An amount field groups its digits as they are typed, with the symbols of the page's notation (data-group,
// data-decimal: "50.000.000,5" in Indonesian), the caret kept after the same digit; what is sent is what it shows,
// which the server reads. A last group of one or two digits typed ("12.5") may be a decimal typed with the other
// symbol: it is left as typed, for the server to refuse in words, never read as something else (a digit deleted
// from a group is only a digit fewer).
function escaped(symbol) {
  return symbol.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function grouped(text, group, decimal, deleting) {
  const [whole, ...rest] = text.split(decimal);
  if (rest.length > 1) return null;
  const sign = whole.startsWith("-") ? "-" : "";
  const body = whole.slice(sign.length);
  const parts = body.split(group);
  if (parts.some((part) => !/^\d*$/.test(part))) return null;
  const last = parts[parts.length - 1].length;
  if (!deleting && parts.length > 1 && last < 3) return null;
  if (rest.length && !/^\d*$/.test(rest[0])) return null;
  const digits = parts.join("");
  const withGroups = digits.replace(/\B(?=(\d{3})+(?!\d))/g, group);
  return sign + withGroups + (rest.length ? decimal + rest[0] : "");
}

document.addEventListener("input", (event) => {
  const field = event.target.closest("input[data-amount][data-group]");
  if (!field || event.isComposing) return;
  const {group, decimal} = field.dataset;
  const shown = grouped(field.value, group, decimal, event.inputType?.startsWith("delete"));
  if (shown === null || shown === field.value) return;
  const caret = field.selectionStart ?? field.value.length;
  const kept = field.value.slice(0, caret).replace(new RegExp(escaped(group), "g"), "").length;
  let at = 0;
  for (let seen = 0; at < shown.length && seen < kept; at += 1) {
    if (shown[at] !== group) seen += 1;
  }
  field.value = shown;
  field.setSelectionRange(at, at);
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
