/* Opvolger, on every page: live countdowns and the "log the outcome after the contact" helper.
   Progressive enhancement only: every action is a plain form that works without this file. No libraries. */
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.remove("no-js");
  root.classList.add("js");
  var STORE_KEY = "opvolger.lastContact";
  var CONTACT_MEMORY_MS = 30 * 60 * 1000;

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  /* ---- countdowns: the same words the server renders (followup/presenters.py countdown_text), to the minute:
     "12 min left", "8 h 45 left", "12 min late", "2 h 05 late", "3 d late". A deadline 12 hours or more away keeps the
     clock time the server wrote ("at 09:05") until it comes closer. ---- */
  function two(n) { return n < 10 ? "0" + n : String(n); }

  function countdownText(seconds, labels) {
    var late = seconds < 0, m = Math.floor(Math.abs(seconds) / 60), text = null;
    if (late) {
      if (m < 60) { text = labels.minLate.replace("{m}", String(m)); }
      else if (m < 48 * 60) { text = labels.hoursLate.replace("{h}", String(Math.floor(m / 60))).replace("{mm}", two(m % 60)); }
      else { text = labels.daysLate.replace("{d}", String(Math.floor(m / 1440))); }
    } else if (m < 60) {
      text = labels.minLeft.replace("{m}", String(m));
    } else if (m < 12 * 60) {
      text = labels.hoursLeft.replace("{h}", String(Math.floor(m / 60))).replace("{mm}", two(m % 60));
    }
    return { late: late, text: text };
  }

  function tick(labels) {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-deadline]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-deadline"));
      if (isNaN(due)) { return; }
      var result = countdownText(Math.trunc((due - now) / 1000), labels);
      if (result.text !== null && el.textContent !== result.text) { el.textContent = result.text; }
      el.classList.toggle("late", result.late);
      var item = el.closest(".lead-item");
      if (item) { item.classList.toggle("overdue", result.late); }
    });
  }

  /* ---- after tapping Call / WhatsApp / SMS / E-mail, the outcome buttons for that channel are ready ---- */
  function showOutcomes(container, channel) {
    var isMessage = channel !== "call";
    container.querySelectorAll("button[data-for]").forEach(function (button) {
      button.hidden = (button.getAttribute("data-for") === "message") !== isMessage;
    });
  }

  function prepareCardOutcome(form, channel) {
    var input = form.querySelector("input[name=channel]");
    if (input) { input.value = channel; }
    showOutcomes(form, channel);
    form.classList.add("after-contact");
  }

  function prepareLeadPageOutcome(form, channel) {
    var radio = form.querySelector("input[name=channel][value='" + channel + "']");
    if (radio) { radio.checked = true; }
    showOutcomes(form, channel);
  }

  function remember(leadId, channel) {
    try {
      sessionStorage.setItem(STORE_KEY, JSON.stringify({ lead: leadId, channel: channel, at: Date.now() }));
    } catch (e) { /* private mode: the buttons are still there */ }
  }

  function restore() {
    var saved;
    try { saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null"); } catch (e) { saved = null; }
    if (!saved || Date.now() - saved.at > CONTACT_MEMORY_MS) { return; }
    var card = document.getElementById("lead-" + saved.lead);
    var form = card && card.querySelector("[data-outcome-form]");
    if (form) { prepareCardOutcome(form, saved.channel); }
  }

  ready(function () {
    var body = document.body;
    var labels = {
      minLeft: body.getAttribute("data-i18n-min-left") || "{m} min",
      hoursLeft: body.getAttribute("data-i18n-hours-left") || "{h} h {mm}",
      minLate: body.getAttribute("data-i18n-min-late") || "-{m} min",
      hoursLate: body.getAttribute("data-i18n-hours-late") || "-{h} h {mm}",
      daysLate: body.getAttribute("data-i18n-days-late") || "-{d} d"
    };
    document.querySelectorAll("[data-js-only]").forEach(function (el) { el.hidden = false; });
    tick(labels);
    window.setInterval(function () { tick(labels); }, 15000);  // minutes, not seconds: no ticking digits

    document.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest("a[data-contact]");
      if (!link) { return; }
      var channel = link.getAttribute("data-contact");
      var card = link.closest("[data-lead]");
      if (card) {
        var form = card.querySelector("[data-outcome-form]");
        if (form) { prepareCardOutcome(form, channel); }
        remember(card.getAttribute("data-lead"), channel);
        return;
      }
      var pageForm = document.querySelector("[data-attempt-form]");
      if (pageForm) { prepareLeadPageOutcome(pageForm, channel); }
    });

    var attemptForm = document.querySelector("[data-attempt-form]");
    if (attemptForm) {
      var checked = attemptForm.querySelector("input[name=channel]:checked");
      showOutcomes(attemptForm, checked ? checked.value : "call");
      attemptForm.addEventListener("change", function (event) {
        if (event.target.name === "channel") { showOutcomes(attemptForm, event.target.value); }
      });
    }

    document.addEventListener("submit", function (event) {
      if (event.target.matches && event.target.matches("[data-outcome-form]")) {
        try { sessionStorage.removeItem(STORE_KEY); } catch (e) { /* nothing to forget */ }
      }
    });
    restore();

    /* ---- the installable app: the service worker (push alerts, offline inbox); logged out, forget the kept inbox ---- */
    if ("serviceWorker" in navigator) {
      if (body.hasAttribute("data-anonymous")) {
        if (window.caches) {
          caches.keys().then(function (names) {
            names.forEach(function (name) { if (name.indexOf("opvolger-pages-") === 0) { caches.delete(name); } });
          });
        }
      } else {
        navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () { /* the site works without it */ });
      }
    }
  });

  window.Opvolger = { countdownText: countdownText, prepareCardOutcome: prepareCardOutcome, showOutcomes: showOutcomes };
})();
