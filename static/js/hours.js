/* Opening hours page: a closed day's times are disabled (and so not sent); without JavaScript "Closed" simply wins. */
(function () {
  "use strict";
  document.querySelectorAll("[data-day]").forEach(function (day) {
    var box = day.querySelector("input[type=checkbox]");
    var sync = function () { day.querySelectorAll("input[type=time]").forEach(function (t) { t.disabled = box.checked; }); };
    box.addEventListener("change", sync); sync();
  });
})();
