// The route sheet is typed from the keyboard: Enter in a cell moves to the same cell of the next row that takes
// input (the sheet's button after the last), rather than sending the sheet. The row's cell left is checked by the
// server (its hx-post on change) as the focus moves on.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Enter" || event.shiftKey || event.altKey || event.ctrlKey || event.metaKey) return;
  const cell = event.target.closest("table.route-sheet td");
  if (!cell || !event.target.matches("input, select")) return;
  event.preventDefault();
  const column = cell.cellIndex;
  let row = cell.parentElement.nextElementSibling;
  while (row) {
    const below = row.cells[column]?.querySelector("input:not([type=hidden]), select");
    if (below) {
      below.focus();
      if (below.select) below.select();
      return;
    }
    row = row.nextElementSibling;
  }
  document.getElementById("save-sheet")?.focus();
});
