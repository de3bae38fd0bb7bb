// Update a gift's card with Stripe's Payment Element in setup mode (the number goes to Stripe
// only), then tell us which SetupIntent saved it.
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form) return;
  var stripe = Stripe(form.dataset.publishableKey);
  var options = { mode: "setup", currency: form.dataset.currency };
  if (form.dataset.paymentMethods !== "automatic") {
    options.paymentMethodTypes = form.dataset.paymentMethods.split(",");
  }
  var elements = stripe.elements(options);
  elements.create("payment").mount("#payment-element");
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
    elements.submit()
      .then(function (checked) {
        if (checked.error) throw new Error(checked.error.message);
        return post(form.dataset.startUrl, data);
      })
      .then(function (started) {
        return stripe.confirmSetup({
          elements: elements,
          clientSecret: started.client_secret,
          confirmParams: { return_url: window.location.href },
          redirect: "if_required",
        });
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
