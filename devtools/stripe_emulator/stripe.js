/*
 * A test double of Stripe.js (https://js.stripe.com/v3/) for the local Stripe emulator: exactly the
 * subset this service's pages use, backed by the emulator's API. Never loaded with real keys.
 *
 * The signatures it imitates, from Stripe.js's reference:
 *   Stripe(publishableKey, options?)
 *   stripe.elements({mode: 'payment'|'subscription'|'setup', amount, currency, paymentMethodTypes?})
 *   elements.create('payment', options?) -> PaymentElement
 *   element.mount(domElement | selector), element.on('change' | 'ready', handler),
 *   element.unmount(), element.destroy()
 *   elements.update({mode?, amount?, currency?})
 *   elements.submit() -> Promise<{error?: {type: 'validation_error', code, message}}>
 *   stripe.confirmPayment({elements, clientSecret, confirmParams: {return_url, payment_method_data?},
 *                          redirect: 'if_required'}) -> Promise<{paymentIntent} | {error}>
 *   stripe.confirmSetup({elements, clientSecret, confirmParams: {return_url}, redirect: 'if_required'})
 *     -> Promise<{setupIntent} | {error}>
 *   stripe.handleNextAction({clientSecret}) -> Promise<{paymentIntent} | {error}>
 *
 * The Payment Element here is a card form (number, expiry, CVC) in plain, unnamed inputs, so that
 * browser tests can fill them by label and the page's form never carries them; a card that asks for 3-D Secure shows one modal prompt ("Complete
 * authentication" / "Fail authentication"), as Stripe's test cards do.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var API = script ? new URL(script.src).origin : "";

  function encode(data, prefix, out) {
    out = out || [];
    Object.keys(data).forEach(function (key) {
      var value = data[key];
      var name = prefix ? prefix + "[" + key + "]" : key;
      if (value === undefined || value === null) return;
      if (typeof value === "object") encode(value, name, out);
      else out.push(encodeURIComponent(name) + "=" + encodeURIComponent(value));
    });
    return out.join("&");
  }

  function api(method, path, key, data) {
    var body = encode(Object.assign({ key: key }, data || {}));
    var url = API + path + (method === "GET" ? "?" + body : "");
    return fetch(url, {
      method: method,
      headers: method === "GET" ? {} : { "Content-Type": "application/x-www-form-urlencoded" },
      body: method === "GET" ? undefined : body,
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (!response.ok || json.error) {
          var error = json.error || { type: "api_error", message: "The emulator answered " + response.status };
          if (!error.message) error.message = "Your card was declined.";
          throw { stripeError: error };
        }
        return json;
      });
    });
  }

  function luhn(number) {
    var sum = 0;
    for (var i = 0; i < number.length; i++) {
      var digit = +number[number.length - 1 - i];
      if (i % 2) { digit *= 2; if (digit > 9) digit -= 9; }
      sum += digit;
    }
    return number.length >= 12 && sum % 10 === 0;
  }

  function input(container, name, text, placeholder, mode) {
    var label = document.createElement("label");
    label.textContent = text;
    label.style.display = "block";
    var field = document.createElement("input");
    // No name: like Stripe's iframe, these fields are never part of the page's own form data.
    field.dataset.field = name;
    field.placeholder = placeholder;
    field.inputMode = mode;
    field.autocomplete = { cardnumber: "cc-number", "exp-date": "cc-exp", cvc: "cc-csc" }[name];
    field.style.display = "block";
    label.appendChild(field);
    container.appendChild(label);
    return field;
  }

  function PaymentElement(group) {
    this.group = group;
    this.handlers = { change: [], ready: [] };
    this.fields = null;
    this.root = null;
  }

  PaymentElement.prototype.mount = function (target) {
    var host = typeof target === "string" ? document.querySelector(target) : target;
    var root = document.createElement("div");
    root.className = "stripe-double-payment-element";
    var fields = {
      number: input(root, "cardnumber", "Card number", "1234 1234 1234 1234", "numeric"),
      expiry: input(root, "exp-date", "Expiry (MM / YY)", "MM / YY", "numeric"),
      cvc: input(root, "cvc", "CVC", "CVC", "numeric"),
    };
    var self = this;
    Object.keys(fields).forEach(function (name) {
      fields[name].addEventListener("input", function () {
        self.group.submitted = false;
        var value = self.value();
        var event = { elementType: "payment", complete: !self.problem(), empty: !value.number && !value.expiry && !value.cvc,
                      value: { type: "card" } };
        self.handlers.change.forEach(function (handler) { handler(event); });
      });
    });
    host.appendChild(root);
    this.root = root;
    this.fields = fields;
    setTimeout(function () { self.handlers.ready.forEach(function (handler) { handler({ elementType: "payment" }); }); });
    return this;
  };

  PaymentElement.prototype.on = function (name, handler) {
    (this.handlers[name] = this.handlers[name] || []).push(handler);
    return this;
  };

  PaymentElement.prototype.unmount = function () {
    if (this.root && this.root.parentNode) this.root.parentNode.removeChild(this.root);
  };

  PaymentElement.prototype.destroy = function () {
    this.unmount();
    this.group.element = null;
  };

  PaymentElement.prototype.value = function () {
    var f = this.fields;
    return {
      number: f.number.value.replace(/\D/g, ""),
      expiry: f.expiry.value.replace(/[^\d/]/g, ""),
      cvc: f.cvc.value.replace(/\D/g, ""),
    };
  };

  // What Stripe.js's own validation would say, or null when the card details are complete.
  PaymentElement.prototype.problem = function () {
    var value = this.value();
    if (!luhn(value.number)) return { code: "incomplete_number", message: "Your card number is incomplete." };
    var expiry = /^(\d{1,2})\/?(\d{2})$/.exec(value.expiry);
    if (!expiry) return { code: "incomplete_expiry", message: "Your card's expiration date is incomplete." };
    var month = +expiry[1], year = 2000 + +expiry[2], now = new Date();
    if (month < 1 || month > 12 || year < now.getFullYear() ||
        (year === now.getFullYear() && month < now.getMonth() + 1)) {
      return { code: "invalid_expiry_year_past", message: "Your card's expiration date is in the past." };
    }
    if (!/^\d{3,4}$/.test(value.cvc)) return { code: "incomplete_cvc", message: "Your card's security code is incomplete." };
    return null;
  };

  function Elements(stripe, options) {
    this.stripe = stripe;
    this.options = Object.assign({}, options);
    this.element = null;
    this.submitted = false;
  }

  Elements.prototype.create = function (type) {
    if (type !== "payment") throw new Error("This Stripe.js double only has the Payment Element.");
    this.element = new PaymentElement(this);
    return this.element;
  };

  Elements.prototype.getElement = function (type) {
    return type === "payment" ? this.element : null;
  };

  Elements.prototype.update = function (options) {
    Object.assign(this.options, options);
  };

  Elements.prototype.submit = function () {
    var problem = this.element ? this.element.problem() : { code: "incomplete", message: "No payment details." };
    this.submitted = !problem;
    return Promise.resolve(problem ? { error: Object.assign({ type: "validation_error" }, problem) } : {});
  };

  function authenticate() {
    return new Promise(function (resolve) {
      var dialog = document.createElement("div");
      dialog.setAttribute("role", "dialog");
      dialog.setAttribute("aria-modal", "true");
      dialog.setAttribute("aria-label", "3D Secure authentication");
      dialog.style.position = "fixed";
      dialog.style.inset = "20% 10% auto 10%";
      dialog.style.background = "#fff";
      dialog.style.border = "2px solid #333";
      dialog.style.padding = "1em";
      dialog.style.zIndex = "2147483647";
      var text = document.createElement("p");
      text.textContent = "Your bank asks you to confirm this payment (a test card).";
      dialog.appendChild(text);
      [["Complete authentication", true], ["Fail authentication", false]].forEach(function (choice) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = choice[0];
        button.addEventListener("click", function () {
          dialog.parentNode.removeChild(dialog);
          resolve(choice[1]);
        });
        dialog.appendChild(button);
      });
      document.body.appendChild(dialog);
      dialog.querySelector("button").focus();
    });
  }

  function intentError(intent, fallback) {
    var last = intent.last_payment_error || intent.last_setup_error || {};
    return {
      type: last.type || "card_error",
      code: last.code || fallback,
      decline_code: last.decline_code,
      message: last.message || "Your card was declined.",
    };
  }

  function Client(key) {
    this.key = key;
  }

  Client.prototype.elements = function (options) {
    return new Elements(this, options);
  };

  Client.prototype._confirm = function (kind, options) {
    var key = this.key;
    var elements = options.elements;
    var secret = options.clientSecret || "";
    var id = secret.split("_secret_")[0];
    var path = "/v1/" + kind + "/" + id;
    var result = kind === "payment_intents" ? "paymentIntent" : "setupIntent";
    if (!elements || !elements.element || !elements.submitted) {
      return Promise.resolve({ error: { type: "invalid_request_error", code: "integration_error",
        message: "elements.submit() must be called, and succeed, before confirming." } });
    }
    var value = elements.element.value();
    var expiry = /^(\d{1,2})\/?(\d{2})$/.exec(value.expiry);
    var details = ((options.confirmParams || {}).payment_method_data || {}).billing_details || {};
    var confirmed = api("POST", "/v1/payment_methods", key, {
      type: "card",
      card: { number: value.number, exp_month: +expiry[1], exp_year: 2000 + +expiry[2], cvc: value.cvc },
      billing_details: details,
    }).then(function (method) {
      return api("POST", path + "/confirm", key, { client_secret: secret, payment_method: method.id });
    });
    return settle(key, path, secret, result, confirmed);
  };

  // Answer the bank's 3-D Secure question if it asks (once), then say how the intent ended, as
  // Stripe.js does: {paymentIntent} / {setupIntent}, or {error}.
  function settle(key, path, secret, result, pending) {
    return pending
      .then(function (intent) {
        if (intent.status !== "requires_action") return intent;
        return authenticate().then(function (success) {
          return api("POST", path + "/_authenticate?success=" + success, key, { client_secret: secret })
            .then(function () { return api("GET", path, key, { client_secret: secret }); });
        });
      })
      .then(function (intent) {
        if (intent.status === "requires_payment_method" || intent.status === "canceled") {
          var error = intentError(intent, "card_declined");
          error[result === "paymentIntent" ? "payment_intent" : "setup_intent"] = intent;
          return { error: error };
        }
        var answer = {};
        answer[result] = intent;
        return answer;
      })
      .catch(function (failure) {
        if (failure && failure.stripeError) return { error: failure.stripeError };
        return { error: { type: "api_connection_error", message: "Could not reach the payment service." } };
      });
  }

  Client.prototype.handleNextAction = function (options) {
    var secret = options.clientSecret || "";
    var path = "/v1/payment_intents/" + secret.split("_secret_")[0];
    return settle(this.key, path, secret, "paymentIntent", api("GET", path, this.key, { client_secret: secret }));
  };

  Client.prototype.confirmPayment = function (options) {
    return this._confirm("payment_intents", options);
  };

  Client.prototype.confirmSetup = function (options) {
    return this._confirm("setup_intents", options);
  };

  function Stripe(key) {
    if (!(typeof key === "string" && key.indexOf("pk_") === 0)) {
      throw new Error("Stripe(): a publishable key (pk_...) is required.");
    }
    return new Client(key);
  }

  window.Stripe = Stripe;
})();
