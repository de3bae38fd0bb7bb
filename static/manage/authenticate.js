// Confirm a renewal the donor's bank wants authenticated (3-D Secure), with Stripe.js.
(function () {
  "use strict";
  var form = document.getElementById("authenticate-form");
  if (!form) return;
  var stripe = Stripe(form.dataset.publishableKey);
  var error = document.getElementById("authenticate-error");
  var submit = document.getElementById("submit");

  function post(url) {
    return fetch(url, { method: "POST", body: new FormData(form), headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          if (!r.ok) throw new Error((body.error && body.error.message) || "Something went wrong. Please try again.");
          return body;
        });
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (submit.disabled) return;
    submit.disabled = true;
    error.hidden = true;
    post(form.dataset.startUrl)
      .then(function (started) {
        if (!started.client_secret) throw new Error("There is no payment waiting for you to confirm.");
        return stripe.handleNextAction({ clientSecret: started.client_secret });
      })
      .then(function (result) {
        if (result.error) throw new Error(result.error.message);
        return post(form.dataset.doneUrl);
      })
      .then(function (done) { window.location.assign(done.next); })
      .catch(function (e) {
        error.textContent = e.message;
        error.hidden = false;
        submit.disabled = false;
      });
  });
})();
