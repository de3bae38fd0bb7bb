// Update a gift's card: save it with a SetupIntent (the number goes to Stripe only), then tell us.
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form) return;
  var stripe = Stripe(form.dataset.publishableKey);
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  var error = document.getElementById("card-error");
  var submit = document.getElementById("submit");

  function post(url, data) {
    return fetch(url, { method: "POST", body: data, headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          if (!r.ok) throw new Error((body.error && body.error.message) || "Something went wrong. Please try again.");
          return body;
        });
      });
  }

  function show(message) {
    error.textContent = message || "";
    error.hidden = !message;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (submit.disabled) return;
    submit.disabled = true;
    show("");
    var data = new FormData(form);
    post(form.dataset.startUrl, data)
      .then(function (started) {
        return stripe.confirmCardSetup(started.client_secret, { payment_method: { card: card } });
      })
      .then(function (result) {
        if (result.error) throw new Error(result.error.message);
        data.append("setup_intent", result.setupIntent.id);
        return post(form.dataset.saveUrl, data);
      })
      .then(function (saved) { window.location.assign(saved.next); })
      .catch(function (e) {
        show(e.message);
        submit.disabled = false;
      });
  });
})();
