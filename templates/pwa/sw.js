{% load static %}/* Opvolger's service worker, served at /sw.js so its scope is the whole site. Rendered by Django: the static URLs
   below are the deployed (hashed) ones, and VERSION is a hash of this rendered file, so every deploy that changes an
   asset gets new cache names; the old caches are deleted on activate. */
"use strict";
var VERSION = "__VERSION__";
var SHELL = "opvolger-shell-" + VERSION;  // the app shell: styles, scripts, icons
var PAGES = "opvolger-pages-" + VERSION;  // the last inbox seen, for offline use
var INBOX = "{% url 'inbox' %}";
var SHELL_URLS = [
  "{% static 'css/app.css' %}", "{% static 'js/app.js' %}", "{% static 'js/inbox.js' %}",
  "{% static 'icons/icon.svg' %}", "{% static 'icons/icon-192.png' %}", "{% static 'icons/badge-96.png' %}",
  "{% static 'manifest.webmanifest' %}"
];
var ICON = "{% static 'icons/icon-192.png' %}", BADGE = "{% static 'icons/badge-96.png' %}";

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL).then(function (cache) { return cache.addAll(SHELL_URLS); })
    .then(function () { return self.skipWaiting(); }));  // a deploy takes over at once; pages keep working
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("opvolger-") === 0 && name !== SHELL && name !== PAGES;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

function offlineCopy(response) {
  // Mark the stored inbox as a copy: the page then says it is offline and read-only (static/js/inbox.js).
  return response.text().then(function (html) {
    return new Response(html.replace("<html ", '<html data-offline="1" '),
                        { headers: { "Content-Type": "text/html; charset=utf-8" } });
  });
}

function inbox(request) {
  return fetch(request).then(function (response) {
    if (response.ok && !response.redirected && response.type === "basic") {
      var copy = response.clone();
      caches.open(PAGES).then(function (cache) { return cache.put(INBOX, copy); });
    } else if (response.redirected) {  // logged out: forget the last inbox
      caches.delete(PAGES);
    }
    return response;
  }).catch(function () {
    return caches.open(PAGES).then(function (cache) { return cache.match(INBOX); }).then(function (cached) {
      return cached ? offlineCopy(cached) : Response.error();
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate" && url.pathname === INBOX) {
    event.respondWith(inbox(request));
  } else if (url.pathname.indexOf("{% get_static_prefix %}") === 0) {
    // Stale-while-revalidate: the kept copy at once (offline too), refreshed behind it. Deployed files have hashed
    // names, so that refresh comes from the browser's HTTP cache; unhashed ones (local settings) stay current.
    event.respondWith(caches.open(SHELL).then(function (cache) {
      return cache.match(request).then(function (cached) {
        var fresh = fetch(request).then(function (response) {
          if (response.ok) { cache.put(request, response.clone()); }
          return response;
        });
        if (cached) { event.waitUntil(fresh.catch(function () { return null; })); return cached; }
        return fresh;
      });
    }));
  }
});

self.addEventListener("push", function (event) {
  var message = {};
  try { message = event.data ? event.data.json() : {}; } catch (e) { message = { title: event.data.text() }; }
  var title = message.title || "Opvolger";
  event.waitUntil(self.registration.showNotification(title, {
    body: message.body || "", icon: ICON, badge: BADGE, lang: "{{ LANGUAGE_CODE }}",
    tag: message.lead ? "lead-" + message.lead + "-" + (message.kind || "") : undefined,  // one per lead and kind
    renotify: Boolean(message.lead), requireInteraction: message.kind === "new_lead",
    data: { url: message.url || INBOX, kind: message.kind, lead: message.lead }
  }));
});

function openLead(url) {
  // The lead's own window if one is open; else an app window of ours goes there; else a new window.
  var target = new URL(url, self.location.origin).href;
  function focus(w) { return w.focus().catch(function () { return w; }); }
  return self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
    var same = windows.filter(function (w) { return w.url === target; })[0];
    if (same) { return focus(same); }
    return self.clients.matchAll({ type: "window" }).then(function (controlled) {  // navigate() needs one we control
      if (!controlled.length) { return self.clients.openWindow(target); }
      return controlled[0].navigate(target).then(function (w) { return w ? focus(w) : self.clients.openWindow(target); })
        .catch(function () { return self.clients.openWindow(target); });
    });
  });
}

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var opening = openLead((event.notification.data || {}).url || INBOX);
  try { event.waitUntil(opening); } catch (e) { /* a dispatched (test) event cannot be extended; it still runs */ }
});

self.addEventListener("message", function (event) {
  if (event.data === "forget-pages") { event.waitUntil(caches.delete(PAGES)); }
});
