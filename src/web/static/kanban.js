// The pipeline board: drag a card to another column (SortableJS) to change its stage.
// The move goes through htmx (CSRF header, toasts, the board re-rendered with its
// totals); when the server refuses, the card goes back where it was. The keyboard
// way: each card's « Déplacer… » brings the board's one move menu into the card.
// Without JavaScript, « Déplacer… » opens the opportunity page and its move form.
(function () {
  "use strict";

  function revert(evt) {
    var card = evt.item;
    if (!card.isConnected || card.parentNode !== evt.to) return; // the board was re-rendered
    var before = evt.from.children[evt.oldIndex] || null;
    evt.from.insertBefore(card, before);
  }

  function onEnd(evt) {
    if (evt.from === evt.to) return; // the order inside a column is not stored
    var card = evt.item;
    var undo = function () { revert(evt); };
    htmx.ajax("POST", card.dataset.moveUrl, {
      source: card,
      target: "#board",
      swap: "outerHTML",
      values: { etapePipeline: evt.to.dataset.etape, depuis: "board" },
    }).then(undo, undo);
  }

  var opener = null; // the « Déplacer… » link whose card holds the menu

  function closeMenu(focusBack) {
    var menu = document.getElementById("move-menu");
    if (menu) {
      menu.hidden = true;
      document.getElementById("board").appendChild(menu);
    }
    if (focusBack && opener && opener.isConnected) opener.focus();
    opener = null;
  }

  function openMenu(link) {
    var menu = document.getElementById("move-menu");
    var card = link.closest(".kanban-card");
    if (!menu || !card) return;
    var here = card.closest(".kanban-cards").dataset.etape;
    var select = menu.querySelector("select");
    menu.action = card.dataset.moveUrl;
    menu.querySelector("label").textContent = "Déplacer « " + card.dataset.titre + " » vers…";
    Array.prototype.forEach.call(select.options, function (option) {
      option.hidden = option.value === here;
      option.disabled = option.value === "" || option.value === here;
    });
    select.value = "";
    card.appendChild(menu);
    menu.hidden = false;
    opener = link;
    select.focus();
  }

  function init() {
    var board = document.getElementById("board");
    if (!board || !window.Sortable || !window.htmx || board.dataset.canMove !== "true") return;
    if (board.dataset.sortable === "on") return;
    board.dataset.sortable = "on";
    board.querySelectorAll(".kanban-cards").forEach(function (list) {
      Sortable.create(list, {
        group: "pipeline",
        animation: 150,
        draggable: ".kanban-card",
        filter: "select, button, input, textarea, label",
        preventOnFilter: false,
        ghostClass: "kanban-ghost",
        chosenClass: "kanban-chosen",
        onEnd: onEnd,
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    init();
    if (!window.htmx) return;
    htmx.onLoad(function () { init(); });
    document.body.addEventListener("click", function (event) {
      var move = event.target.closest("#board [data-move]");
      if (move && document.getElementById("move-menu")) {
        event.preventDefault();
        openMenu(move);
        return;
      }
      if (event.target.closest("#move-menu [data-close-menu]")) {
        event.preventDefault();
        closeMenu(true);
        return;
      }
      var close = event.target.closest("#move-panel [data-close-panel]");
      if (!close) return;
      event.preventDefault();
      document.getElementById("move-panel").innerHTML = "";
    });
    document.body.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && event.target.closest("#move-menu")) closeMenu(true);
    });
    // The menu posts through htmx like a drag: the board comes back re-rendered.
    document.body.addEventListener("submit", function (event) {
      var menu = event.target;
      if (menu.id !== "move-menu") return;
      event.preventDefault();
      htmx.ajax("POST", menu.action, {
        source: menu,
        target: "#board",
        swap: "outerHTML",
      });
    });
  });
})();
