// Lists: a table.list shows the columns a clerk came for, whatever the screen.
//
// Each column is described by its <col> in the table's <colgroup>: data-col names it, and its class says its part.
// "key", "amount" and "state" head the row's card on a phone; "p2", "p3" and "p4" are the columns that may give way
// on a narrow screen, p4 first (a column with none of them never does). Every cell is labelled with its column's
// heading (data-label), which the card shows beside a short value and above a long one; a blank cell is left out of
// the card (static/app.css).
//
// On a wider screen, while a list is wider than its box, its columns give way, the least needed first and, of
// equals, the rightmost. A column the person chose to show or hide in the list's Columns chooser (_list.html) is
// shown or hidden whatever the width; the choice is kept for them on the server (web/columns.py).

const PHONE = window.matchMedia("(max-width: 600px)");
const PARTS = ["key", "amount", "state"];
const LONG = 40; // the characters of a value a card shows under its heading rather than beside it
const lists = new Map();

function columnsOf(table) {
  return [...table.querySelectorAll(":scope > colgroup > col")].map((col, index) => ({
    index,
    name: col.dataset.col || String(index),
    part: PARTS.find((part) => col.classList.contains(part)),
    priority: Number(/\bp([2-4])\b/.exec(col.className)?.[1] || 1),
    label: "",
  }));
}

// What a heading says, without what is only drawn (a sort arrow).
function headingText(cell) {
  const copy = cell.cloneNode(true);
  copy.querySelectorAll("[aria-hidden=true]").forEach((drawn) => drawn.remove());
  return copy.textContent.replace(/\s+/g, " ").trim();
}

// Each cell of the rows with the first column it sits in.
function eachCell(rows, visit) {
  for (const row of rows) {
    let at = 0;
    for (const cell of row.cells) {
      visit(cell, at, row);
      at += Number(cell.dataset.span || cell.colSpan);
    }
  }
}

function setUp(table) {
  const columns = columnsOf(table);
  const heads = table.tHead?.rows[table.tHead.rows.length - 1];
  if (heads) eachCell([heads], (cell, at) => columns[at] && (columns[at].label = headingText(cell)));
  table.classList.add("cards");
  const chooser = document.querySelector(`details.columns[data-list="${table.dataset.list}"]`);
  const list = {table, columns, chooser, chosen: chooser ? JSON.parse(chooser.dataset.chosen || "{}") : {}};
  mark(list);
  if (chooser) makeChooser(list);
  return list;
}

// Name each cell's column, label it with its heading and mark its part of the card (again for a cell swapped in).
function mark({table, columns}) {
  eachCell(table.rows, (cell, at, row) => {
    if (cell.dataset.span || cell.colSpan > 1) {
      cell.dataset.span ||= cell.colSpan;
      cell.dataset.from = at;
      return;
    }
    const column = columns[at];
    if (!column) return;
    cell.dataset.col = column.name;
    if (row.parentElement === table.tHead) return;
    if (column.label && !cell.hasAttribute("data-label")) cell.dataset.label = column.label;
    if (column.part) cell.classList.add(`card-${column.part}`);
    const text = cell.textContent.replace(/\s+/g, " ").trim();
    cell.classList.toggle("card-blank", !text && !cell.querySelector("input, select, button"));
    cell.classList.toggle("card-long", text.length > LONG || Boolean(cell.querySelector("form, ul, p, select, label")));
  });
}

// Hide the columns named ``off`` (a cell across several columns spans those still shown).
function hide(list, off) {
  eachCell(list.table.rows, (cell) => {
    if (cell.dataset.col) {
      cell.toggleAttribute("data-off", off.has(cell.dataset.col));
    } else if (cell.dataset.span) {
      const from = Number(cell.dataset.from);
      const spanned = list.columns.slice(from, from + Number(cell.dataset.span));
      cell.colSpan = Math.max(1, spanned.filter((column) => !off.has(column.name)).length);
    }
  });
}

function tooWide(table) {
  const box = table.closest(".scroll") || table.parentElement;
  const page = document.documentElement.clientWidth;
  return box.scrollWidth > box.clientWidth + 1 || box.getBoundingClientRect().right > page + 1;
}

function show(list) {
  const {table, columns, chosen} = list;
  const off = new Set(columns.filter((column) => chosen[column.name] === false).map((column) => column.name));
  hide(list, off);
  if (!PHONE.matches && table.offsetParent) {
    const giving = columns
      .filter((column) => column.priority > 1 && !(column.name in chosen))
      .sort((a, b) => b.priority - a.priority || b.index - a.index);
    for (const column of giving) {
      if (!tooWide(table)) break;
      off.add(column.name);
      hide(list, off);
    }
  }
  list.off = off;
  if (list.chooser) showChoices(list);
}

function makeChooser(list) {
  const {chooser, columns} = list;
  const choices = chooser.querySelector(".choices");
  for (const column of columns) {
    if (!column.label) continue;
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = column.name;
    box.disabled = column.part === "key";
    label.append(box, ` ${column.label}`);
    choices.append(label);
  }
  chooser.hidden = false;
  chooser.addEventListener("change", (event) => {
    const box = event.target.closest("input[type=checkbox]");
    if (!box) return;
    list.chosen[box.value] = box.checked;
    showLists();
    keep(list);
  });
  chooser.querySelector("[data-usual]").addEventListener("click", () => {
    list.chosen = {};
    showLists();
    keep(list);
  });
}

function showChoices(list) {
  const {chooser, columns, off} = list;
  for (const box of chooser.querySelectorAll(".choices input")) box.checked = !off.has(box.value);
  const named = columns.filter((column) => column.label);
  const shown = named.filter((column) => !off.has(column.name));
  chooser.querySelector(".count").textContent = `${shown.length}/${named.length}`;
}

// Keep the person's choice on the server; a refusal is said under the choices.
async function keep(list) {
  const form = list.chooser.querySelector("form");
  const said = form.querySelector("[role=alert]");
  const sent = new FormData();
  sent.append("csrf_token", form.elements.csrf_token.value);
  for (const [name, shown] of Object.entries(list.chosen)) sent.append(shown ? "shown" : "hidden", name);
  said.hidden = true;
  try {
    const answer = await fetch(form.action, {method: "POST", body: sent, headers: {Accept: "application/json"}});
    if (answer.ok) return;
    const refusal = await answer.json().catch(() => null);
    if (refusal?.message) said.textContent = refusal.message;
  } catch {
    // No answer (the network): the page's own message is said.
  }
  said.hidden = false;
}

function showLists() {
  for (const table of document.querySelectorAll("table.list")) {
    if (!lists.has(table)) lists.set(table, setUp(table));
  }
  for (const [table, list] of lists) {
    if (table.isConnected) show(list);
    else lists.delete(table);
  }
  document.dispatchEvent(new Event("lists:shown"));
}

let pending = false;
function showListsSoon() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    showLists();
  });
}

showLists();
window.addEventListener("resize", showListsSoon);
PHONE.addEventListener("change", showListsSoon);
document.addEventListener("htmx:afterSettle", (event) => {
  for (const [table, list] of lists) if (table.contains(event.target)) mark(list);
  showLists();
});

// An open chooser closes on a click elsewhere, or on Escape.
document.addEventListener("click", (event) => {
  for (const open of document.querySelectorAll("details.columns[open]")) {
    if (!open.contains(event.target)) open.open = false;
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const open of document.querySelectorAll("details.columns[open]")) {
    open.open = false;
    open.querySelector("summary").focus();
  }
});
