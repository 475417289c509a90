// The header's search box and the forms' pickers: a field whose list of what it finds (filled by htmx under it) is
// moved through with the arrows, opened (a result) or chosen (a suggestion) with Enter or a click, and closed with
// Escape. "/" goes to the search box from anywhere but a field being typed in.

const TYPING = [
  "textarea",
  "select",
  "[contenteditable]:not([contenteditable=false])",
  "input:not([type=checkbox]):not([type=radio]):not([type=button]):not([type=submit]):not([type=reset]):not([type=file])",
].join(", ");

document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  if (document.activeElement?.closest(TYPING)) return;
  const box = document.getElementById("search");
  if (!box) return;
  event.preventDefault();
  box.focus();
  box.select();
});

// A picker asks for what is typed in it as "q", whatever the field's name.
document.addEventListener("htmx:configRequest", (event) => {
  const field = event.detail.elt;
  if (field.matches?.("input[data-picker]")) event.detail.parameters.q = field.value;
});

function panelOf(field) {
  return document.querySelector(field.getAttribute("hx-target"));
}

function optionsOf(field) {
  const list = document.getElementById(field.getAttribute("aria-controls"));
  return list ? [...list.querySelectorAll("[role=option]:not([aria-disabled=true])")] : [];
}

function close(field) {
  panelOf(field).hidden = true;
  field.setAttribute("aria-expanded", "false");
  field.removeAttribute("aria-activedescendant");
  delete field.dataset.chose;
  delete field.dataset.active;
}

// The option moved to is remembered by what it chooses: suggestions that come after it keep it, where it still is.
function activate(field, options, index) {
  options.forEach((option, i) => option.setAttribute("aria-selected", String(i === index)));
  field.setAttribute("aria-activedescendant", options[index].id);
  field.dataset.active = options[index].dataset.value ?? "";
  options[index].scrollIntoView({ block: "nearest" });
}

// A result opens its page; a suggestion puts its key in the picker and names what it chose beside it (a customer
// chosen on the order form also chooses its account manager, which the clerk can still change).
function choose(field, option) {
  if (option.matches("a[href]")) {
    option.click();
    return;
  }
  field.value = option.dataset.value;
  named(field, option.dataset.chosen);
  close(field);
  field.dataset.chose = "";
  field.dispatchEvent(new Event("change", { bubbles: true }));
  const manager = field.dataset.setsAccountManager && document.querySelector(field.dataset.setsAccountManager);
  if (manager && option.dataset.accountManager) {
    manager.value = option.dataset.accountManager;
    named(manager, option.dataset.accountManagerName);
    manager.dispatchEvent(new Event("change", { bubbles: true }));
  }
}

function named(field, text) {
  const chosen = document.getElementById(field.getAttribute("aria-describedby"));
  if (chosen) chosen.textContent = text || "";
}

document.addEventListener("htmx:afterSwap", (event) => {
  const field = event.detail.requestConfig?.elt;
  if (!field?.matches?.("[role=combobox][aria-controls]")) return;
  const options = optionsOf(field);
  const list = document.getElementById(field.getAttribute("aria-controls"));
  options.forEach((option, i) => {
    if (!option.id) option.id = `${list.id}-${i + 1}`;
  });
  const shown = document.activeElement === field && !("chose" in field.dataset) && panelOf(field).textContent.trim() !== "";
  panelOf(field).hidden = !shown;
  field.setAttribute("aria-expanded", String(shown && options.length > 0));
  const kept = options.findIndex((option) => "active" in field.dataset && option.dataset.value === field.dataset.active);
  if (shown && kept >= 0) {
    activate(field, options, kept);
  } else {
    field.removeAttribute("aria-activedescendant");
    delete field.dataset.active;
  }
});

document.addEventListener("keydown", (event) => {
  const field = event.target.closest?.("[role=combobox][aria-controls]");
  if (!field) return;
  const options = optionsOf(field);
  const current = options.findIndex((option) => option.id === field.getAttribute("aria-activedescendant"));
  const open = !panelOf(field).hidden;
  if ((event.key === "ArrowDown" || event.key === "ArrowUp") && options.length) {
    event.preventDefault();
    if (!open) {
      panelOf(field).hidden = false;
      field.setAttribute("aria-expanded", "true");
    }
    const down = event.key === "ArrowDown";
    const next = down ? (current + 1) % options.length : current <= 0 ? options.length - 1 : current - 1;
    activate(field, options, next);
  } else if (event.key === "Enter" && open && current >= 0) {
    event.preventDefault();
    choose(field, options[current]);
  } else if (event.key === "Escape" && open) {
    event.preventDefault();
    close(field);
  }
});

// A click on an option keeps the focus in the field (the list would close as the field loses it), then chooses.
document.addEventListener("mousedown", (event) => {
  if (event.target.closest("[role=listbox] [role=option]")) event.preventDefault();
});

document.addEventListener("click", (event) => {
  const option = event.target.closest(".picker [role=option]:not([aria-disabled=true])");
  if (option) choose(option.closest(".picker").querySelector("[role=combobox]"), option);
});

document.addEventListener("focusout", (event) => {
  if (event.target.matches?.("[role=combobox][aria-controls]")) close(event.target);
});

// What a picker names beside it is what was chosen: typing over it unnames it. A choice keeps the list closed until
// the picker is typed in or closed: suggestions asked for what was typed before it (the choice made within the pause
// before they are asked) do not open it again when they come.
document.addEventListener("input", (event) => {
  if (!event.target.matches?.("input[data-picker]")) return;
  named(event.target, "");
  delete event.target.dataset.chose;
});
