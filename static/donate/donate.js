// The donate page: validate on the server, save the card with a SetupIntent, then charge it.
(function () {
  "use strict";
  var form = document.getElementById("donate-form");
  if (!form) return;
  var stripe = Stripe(form.dataset.publishableKey);
  var card = stripe.elements().create("card");
  card.mount("#card-element");

  var submit = document.getElementById("submit");
  var amount = form.elements.amount;
  var formError = document.getElementById("form-error");
  var cardError = document.getElementById("card-error");
  var busy = false;

  function show(el, message) {
    el.textContent = message || "";
    el.hidden = !message;
  }

  function clearErrors() {
    form.querySelectorAll("[data-error-for]").forEach(function (el) { show(el, ""); });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.setAttribute("aria-invalid", "false"); });
    show(formError, ""); show(cardError, "");
  }

  function showFieldErrors(fields) {
    var first = null;
    Object.keys(fields).forEach(function (name) {
      var el = form.querySelector('[data-error-for="' + name + '"]');
      var input = form.elements[name];
      if (el) show(el, fields[name].join(" "));
      else show(formError, fields[name].join(" "));
      if (input && input.setAttribute) {
        input.setAttribute("aria-invalid", "true");
        first = first || input;
      }
    });
    if (first && first.focus) first.focus();
  }

  function frequency() {
    var checked = form.querySelector('input[name="frequency"]:checked');
    return checked ? checked.value : "once";
  }

  function label() {
    var value = amount.value.trim();
    var words = { once: "", month: " monthly", year: " yearly" }[frequency()];
    submit.textContent = value ? "Give " + (/^\d/.test(value) ? "$" : "") + value + words : "Give";
  }

  var feeTimer = null;
  function quoteFee() {
    clearTimeout(feeTimer);
    var fee = document.getElementById("fee-amount");
    if (!/^\d+(\.\d{1,2})?$/.test(amount.value.trim())) {
      fee.textContent = "a little";
      return;
    }
    feeTimer = setTimeout(function () {
      var params = new URLSearchParams({ amount: amount.value, currency: form.elements.currency.value });
      fetch(form.dataset.feeUrl + "?" + params, { headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (quote) {
          fee.textContent = quote ? quote.fee_display : "a little";
        })
        .catch(function () {});
    }, 150);
  }

  form.querySelectorAll(".preset").forEach(function (button) {
    button.addEventListener("click", function () {
      amount.value = button.dataset.amount;
      form.querySelectorAll(".preset").forEach(function (b) {
        b.setAttribute("aria-pressed", String(b === button));
      });
      label(); quoteFee();
    });
  });
  amount.addEventListener("input", function () {
    form.querySelectorAll(".preset").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.amount === amount.value.trim()));
    });
    label(); quoteFee();
  });
  form.querySelectorAll('input[name="frequency"]').forEach(function (radio) {
    radio.addEventListener("change", label);
  });
  label(); if (amount.value) quoteFee();

  function post(url, data) {
    return fetch(url, {
      method: "POST",
      headers: { Accept: "application/json" },
      body: data,
      credentials: "same-origin",
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return { ok: response.ok, body: body };
      });
    });
  }

  function confirmGift(url, setupIntentId) {
    var data = new FormData();
    data.append("csrf_token", form.elements.csrf_token.value);
    if (setupIntentId) data.append("setup_intent", setupIntentId);
    return post(url, data).then(function (result) {
      var body = result.body;
      if (!result.ok) throw new Error((body.error && body.error.message) || "Something went wrong. Please try again.");
      if (body.status === "succeeded") {
        window.location.assign(body.thanks_url);
        return "done";
      }
      if (body.status === "requires_action") {
        return stripe.confirmCardPayment(body.client_secret).then(function () {
          return confirmGift(url, null);
        });
      }
      if (body.status === "processing") {
        return new Promise(function (resolve) { setTimeout(resolve, 1000); })
          .then(function () { return confirmGift(url, null); });
      }
      var declined = new Error(body.message || "Your card was declined.");
      declined.card = true;
      throw declined;
    });
  }

  function newAttempt() {
    // A new submission id: the next try is a new gift, never a repeat of the failed one.
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    form.elements.checkout_key.value = Array.from(bytes, function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) return;
    busy = true;
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    clearErrors();
    post(form.action, new FormData(form))
      .then(function (result) {
        var body = result.body;
        if (!result.ok) {
          if (body.error && body.error.fields) showFieldErrors(body.error.fields);
          else show(formError, (body.error && body.error.message) || "Something went wrong. Please try again.");
          return "retry";
        }
        return stripe.confirmCardSetup(body.client_secret, {
          payment_method: {
            card: card,
            billing_details: { name: form.elements.name.value, email: form.elements.email.value },
          },
        }).then(function (setup) {
          if (setup.error && setup.error.type === "validation_error") {
            // The card details are incomplete: nothing reached the bank; fix and send again.
            show(cardError, setup.error.message);
            return "retry";
          }
          // Declined or not, the server reads the SetupIntent and records the outcome.
          var id = setup.setupIntent ? setup.setupIntent.id : null;
          return confirmGift(body.confirm_url, id).catch(function (error) {
            if (setup.error) {
              error = new Error(setup.error.message || error.message);
              error.card = true;
            }
            throw error;
          });
        });
      })
      .then(function (state) {
        if (state === "done") return;
        busy = false; submit.disabled = false; submit.removeAttribute("aria-busy");
      })
      .catch(function (error) {
        if (error.card) {
          show(cardError, error.message + " Please try another card.");
          newAttempt();
        } else {
          show(formError, error.message || "Something went wrong. Please try again.");
        }
        busy = false; submit.disabled = false; submit.removeAttribute("aria-busy");
      });
  });
})();
