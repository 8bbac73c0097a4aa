/* The inbox: new leads appear without a reload (polling a small JSON feed every 2 s while the page is visible), the
   bell and the tab title follow the unread count, "Alerts on this phone" subscribes this browser to Web Push (the
   service worker shows the alerts), and an install button appears where the browser offers one. Offline, the page the
   service worker kept is shown read-only. Without JavaScript the inbox is a normal page. */
(function () {
  "use strict";
  var list = document.getElementById("lead-list");
  if (!list || !window.fetch) { return; }
  var feedUrl = list.getAttribute("data-feed");
  var since = list.getAttribute("data-since");
  var POLL_VISIBLE_MS = 2000, POLL_HIDDEN_MS = 60000, HAVE_FOR_MS = 3 * 60 * 1000;
  var have = {};  // lead id -> when the feed gave it: the server skips these while they are inside its overlap
  var audio = null;
  var baseTitle = document.title.replace(/^\(\d+\)\s*/, "");

  function setting(name) { try { return localStorage.getItem("opvolger." + name) === "on"; } catch (e) { return false; } }
  function setSetting(name, on) { try { localStorage.setItem("opvolger." + name, on ? "on" : "off"); } catch (e) { /* ignore */ } }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  /* ---- offline: the service worker's copy of the last inbox, marked data-offline ---- */
  var offline = document.documentElement.hasAttribute("data-offline");
  function showOffline(on) {
    offline = on;
    var note = document.getElementById("offline-note");
    if (note) { note.hidden = !on; }
    document.body.classList.toggle("is-offline", on);
  }
  document.addEventListener("submit", function (event) { if (offline) { event.preventDefault(); } }, true);
  window.addEventListener("offline", function () { showOffline(true); });
  window.addEventListener("online", function () {
    if (document.documentElement.hasAttribute("data-offline")) { window.location.reload(); } else { showOffline(false); schedule(0); }
  });

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

  function alertUser() {
    // The visible page alerts in-page; a phone in a pocket gets the push through the service worker instead.
    if (setting("sound")) { beep(); }
    if (setting("vibrate") && navigator.vibrate) { navigator.vibrate([200, 100, 200]); }
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
  }

  /* ---- "Alerts on this phone": a Web Push subscription, stored through the team API with the session ---- */
  function base64ToBytes(value) {
    var raw = atob((value + "===".slice((value.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/"));
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes;
  }
  function bytesToBase64(buffer) {
    if (!buffer) { return ""; }
    var bytes = new Uint8Array(buffer), text = "";
    for (var i = 0; i < bytes.length; i++) { text += String.fromCharCode(bytes[i]); }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function setupPush() {
    var button = document.querySelector("[data-action=push-alerts]");
    var status = document.querySelector("[data-push-status]");
    if (!button) { return; }
    var api = button.getAttribute("data-api"), key = button.getAttribute("data-key");
    function say(name) { if (status) { status.textContent = name ? status.getAttribute("data-" + name) || "" : ""; } }
    function pressed(on) { button.setAttribute("aria-pressed", on ? "true" : "false"); }
    button.hidden = false;
    if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
      button.disabled = true;
      say("unsupported");
      return;
    }
    if (Notification.permission === "denied") { button.disabled = true; say("denied"); return; }

    function save(subscription) {
      return fetch(api, { method: "POST", credentials: "same-origin", body: JSON.stringify(subscription.toJSON()),
                          headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" } })
        .then(function (response) { if (!response.ok) { throw new Error("refused"); } return subscription; });
    }
    function forget(subscription) {
      var endpoint = subscription.endpoint;
      return subscription.unsubscribe().then(function () {
        return fetch(api, { credentials: "same-origin", headers: { Accept: "application/json" } });
      }).then(function (response) { return response.ok ? response.json() : []; }).then(function (devices) {
        return Promise.all(devices.filter(function (d) { return d.endpoint === endpoint; }).map(function (d) {
          var url = api.replace(/\/(\?|$)/, "/" + d.id + "/$1");
          return fetch(url, { method: "DELETE", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() } });
        }));
      });
    }
    function subscribe(registration) {
      return registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64ToBytes(key) }).then(save);
    }

    navigator.serviceWorker.ready.then(function (registration) {
      return registration.pushManager.getSubscription().then(function (subscription) {
        if (!subscription) { pressed(false); return; }
        if (bytesToBase64(subscription.options && subscription.options.applicationServerKey) !== key) {
          // The server's key changed (a new VAPID pair): subscribe again with the new one.
          return subscription.unsubscribe().then(function () { return subscribe(registration); })
            .then(function () { pressed(true); say("on"); });
        }
        pressed(true);
        say("on");
        return save(subscription);  // keeps the server's list in step with this phone (idempotent)
      });
    }).catch(function () { /* shown as off */ });

    button.addEventListener("click", function () {
      var on = button.getAttribute("aria-pressed") !== "true";
      button.disabled = true;
      var work = on ? Notification.requestPermission().then(function (permission) {
        if (permission !== "granted") { throw new Error(permission); }
        return navigator.serviceWorker.ready.then(subscribe);
      }) : navigator.serviceWorker.ready.then(function (registration) {
        return registration.pushManager.getSubscription().then(function (s) { return s && forget(s); });
      });
      work.then(function () { pressed(on); say(on ? "on" : ""); button.disabled = false; })
        .catch(function (error) {
          var denied = Notification.permission === "denied";
          say(denied ? "denied" : "failed");
          button.disabled = denied;
          pressed(false);
          if (window.console) { console.warn("push alerts", error); }
        });
    });
  }

  /* ---- install hint where the browser offers one ---- */
  function setupInstall() {
    var button = document.querySelector("[data-action=install]");
    if (!button) { return; }
    var offer = null;
    window.addEventListener("beforeinstallprompt", function (event) {
      event.preventDefault();
      offer = event;
      button.hidden = false;
    });
    window.addEventListener("appinstalled", function () { button.hidden = true; offer = null; });
    button.addEventListener("click", function () {
      if (!offer) { return; }
      offer.prompt();
      offer.userChoice.then(function () { button.hidden = true; offer = null; });
    });
  }

  /* ---- live updates ---- */
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

  function showUnread(count, label) {
    document.title = (count ? "(" + count + ") " : "") + baseTitle;
    var bell = document.getElementById("notice-bell");
    if (!bell) { return; }
    bell.hidden = !count;
    var number = bell.querySelector("[data-count]"), text = bell.querySelector("[data-label]");
    if (number) { number.textContent = String(count); }
    if (text && label) { text.textContent = label; }
  }

  function update(data) {
    since = data.now;
    var now = Date.now(), names = [];
    data.leads.slice().reverse().forEach(function (lead) {  // the most urgent ends up on top
      have[lead.id] = now;
      if (addCard(lead)) {
        var card = document.getElementById("lead-" + lead.id);
        var name = card && card.querySelector(".lead-name");
        names.push(name ? name.textContent.trim() : "");
      }
    });
    Object.keys(have).forEach(function (id) { if (now - have[id] > HAVE_FOR_MS) { delete have[id]; } });
    if (names.length) {
      var count = document.getElementById("open-count");
      if (count) { count.textContent = String((parseInt(count.textContent, 10) || 0) + names.length); }
      var empty = document.getElementById("inbox-empty");
      if (empty) { empty.hidden = true; }
      announce(names);
      alertUser();
    }
    showUnread(data.unread, data.unread_label);
  }

  var timer = null, inFlight = false;

  function schedule(ms) {
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, ms);
  }

  function poll() {
    if (inFlight || offline) { return; }
    inFlight = true;
    var url = feedUrl + "?since=" + encodeURIComponent(since) + "&have=" + Object.keys(have).join(",");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok && !response.redirected ? response.json() : null; })
      .then(function (data) { if (data) { update(data); } })
      .catch(function () { /* offline for a moment: the next poll catches up */ })
      .then(function () {
        inFlight = false;
        schedule(document.hidden ? POLL_HIDDEN_MS : POLL_VISIBLE_MS);
      });
  }

  setupToggles();
  setupPush();
  setupInstall();
  showOffline(offline);
  schedule(POLL_VISIBLE_MS);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { schedule(0); } });  // back from a call: catch up
  window.OpvolgerInbox = { poll: poll };
})();
