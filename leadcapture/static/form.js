/* The phone field is required while a purpose by phone is ticked. Say so before the form is sent
   (the server checks it too); this runs before pow.js, so no proof of work is spent on a form
   that cannot be stored. */
(function () {
  "use strict";
  var phone = document.getElementById("phone");
  var boxes = document.querySelectorAll("input[data-needs-phone]");
  if (!phone || !boxes.length) return;

  function needed() {
    for (var i = 0; i < boxes.length; i++) if (boxes[i].checked) return true;
    return false;
  }
  function sync() {
    phone.required = needed();
    phone.setAttribute("aria-required", String(phone.required));
  }
  for (var i = 0; i < boxes.length; i++) boxes[i].addEventListener("change", sync);
  sync();

  phone.form.addEventListener("submit", function (event) {
    if (!needed() || phone.value.trim()) return;
    event.preventDefault();
    event.stopImmediatePropagation();  /* pow.js listens after us: it does not start */
    var error = document.getElementById("phone-error");
    if (!error) {
      error = document.createElement("p");
      error.className = "error";
      error.id = "phone-error";
      phone.parentNode.appendChild(error);
    }
    error.setAttribute("role", "alert");
    error.textContent = phone.getAttribute("data-needed");
    phone.setAttribute("aria-invalid", "true");
    phone.setAttribute("aria-describedby", "phone-error");
    phone.focus();
  });
})();
