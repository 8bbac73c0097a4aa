/* The inbox: new leads appear without a reload (polling a small JSON feed), with an optional sound, vibration and
   browser notification. Without JavaScript the inbox is a normal page that shows new leads on the next load. */
(function () {
  "use strict";
  var list = document.getElementById("lead-list");
  if (!list || !window.fetch) { return; }
  var feedUrl = list.getAttribute("data-feed");
  var since = list.getAttribute("data-since");
  var POLL_VISIBLE_MS = 15000, POLL_HIDDEN_MS = 60000;
  var seenNotices = {};
  var audio = null;

  function setting(name) { try { return localStorage.getItem("opvolger." + name) === "on"; } catch (e) { return false; } }
  function setSetting(name, on) { try { localStorage.setItem("opvolger." + name, on ? "on" : "off"); } catch (e) { /* ignore */ } }

  function beep() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) { return; }
    try {
      audio = audio || new Ctx();
      var osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.15;
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.25);
    } catch (e) { /* no sound is fine */ }
  }

  function alertUser(notices) {
    if (setting("sound")) { beep(); }
    if (setting("vibrate") && navigator.vibrate) { navigator.vibrate([200, 100, 200]); }
    if ("Notification" in window && Notification.permission === "granted") {
      notices.forEach(function (n) {
        try {
          var shown = new Notification(n.title, { body: n.body, tag: "lead-" + n.lead });
          shown.onclick = function () { window.focus(); window.location.href = n.url; };
        } catch (e) { /* some mobile browsers only allow notifications from a service worker */ }
      });
    }
  }

  function setupToggles() {
    document.querySelectorAll("[data-toggle]").forEach(function (button) {
      var name = button.getAttribute("data-toggle");
      if (name === "vibrate" && !navigator.vibrate) { button.hidden = true; return; }
      button.setAttribute("aria-pressed", setting(name) ? "true" : "false");
      button.addEventListener("click", function () {
        var on = button.getAttribute("aria-pressed") !== "true";
        setSetting(name, on);
        button.setAttribute("aria-pressed", on ? "true" : "false");
        if (on && name === "sound") { beep(); }  // a tap unlocks audio on phones, and lets the user hear it
        if (on && name === "vibrate") { navigator.vibrate(100); }
      });
    });
    var notify = document.querySelector("[data-action=enable-notifications]");
    if (notify) {
      if (!("Notification" in window)) { notify.hidden = true; return; }
      notify.setAttribute("aria-pressed", Notification.permission === "granted" ? "true" : "false");
      notify.addEventListener("click", function () {
        Notification.requestPermission().then(function (permission) {
          notify.setAttribute("aria-pressed", permission === "granted" ? "true" : "false");
        });
      });
    }
  }

  function addCard(lead) {
    if (document.getElementById("lead-" + lead.id)) { return false; }
    var template = document.createElement("template");
    template.innerHTML = lead.html.trim();
    var node = template.content.firstElementChild;
    if (!node) { return false; }
    node.classList.add("is-new");
    list.insertBefore(node, list.firstChild);
    return true;
  }

  function announce(names) {
    var status = document.getElementById("new-leads");
    if (!status || !names.length) { return; }
    var template = status.getAttribute("data-template") || "{name}";
    status.textContent = names.map(function (name) { return template.replace("{name}", name); }).join(" · ");
    status.hidden = false;
  }

  function update(data) {
    since = data.now;
    var added = {}, names = [];
    data.leads.slice().reverse().forEach(function (lead) {  // the most urgent ends up on top
      if (addCard(lead)) {
        added[lead.id] = true;
        var card = document.getElementById("lead-" + lead.id);
        var name = card && card.querySelector(".lead-name");
        names.push(name ? name.textContent.trim() : "");
      }
    });
    var fresh = data.notices.filter(function (n) {
      var isNew = !seenNotices[n.id] && added[n.lead];
      seenNotices[n.id] = true;
      return isNew;
    });
    if (names.length) {
      var count = document.getElementById("open-count");
      if (count) { count.textContent = String((parseInt(count.textContent, 10) || 0) + names.length); }
      var empty = document.getElementById("inbox-empty");
      if (empty) { empty.hidden = true; }
      announce(names);
      alertUser(fresh);
    }
  }

  var timer = null, inFlight = false;

  function schedule(ms) {
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, ms);
  }

  function poll() {
    if (inFlight) { return; }
    inFlight = true;
    fetch(feedUrl + "?since=" + encodeURIComponent(since), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) { update(data); } })
      .catch(function () { /* offline for a moment: the next poll catches up */ })
      .then(function () {
        inFlight = false;
        schedule(document.hidden ? POLL_HIDDEN_MS : POLL_VISIBLE_MS);
      });
  }

  setupToggles();
  schedule(POLL_VISIBLE_MS);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { schedule(0); } });  // back from a call: catch up
  window.OpvolgerInbox = { poll: poll };
})();
