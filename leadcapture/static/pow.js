/* leadcapture proof of work (self-hosted, hashcash-style; see forms/pow.py).
   On submit, find a nonce so that SHA-256("<form token>:<email>:<nonce>") starts with N zero bits. */
(function () {
  "use strict";
  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ];
  var W = new Int32Array(64);

  function utf8(text) {
    return new TextEncoder().encode(text);
  }

  /* SHA-256 of bytes; returns the first word (enough to count up to 32 leading zero bits) and the rest. */
  var scratch = new Uint8Array(64);
  function sha256(bytes) {
    var length = bytes.length;
    var size = ((length + 9 + 63) >> 6) << 6;
    if (scratch.length !== size) scratch = new Uint8Array(size); else scratch.fill(0);
    var padded = scratch;  /* reused: the search hashes the same length many times over */
    padded.set(bytes);
    padded[length] = 0x80;
    var bitLength = length * 8;
    padded[padded.length - 4] = bitLength >>> 24;
    padded[padded.length - 3] = bitLength >>> 16;
    padded[padded.length - 2] = bitLength >>> 8;
    padded[padded.length - 1] = bitLength;
    var h0 = 0x6a09e667, h1 = 0xbb67ae85, h2 = 0x3c6ef372, h3 = 0xa54ff53a;
    var h4 = 0x510e527f, h5 = 0x9b05688c, h6 = 0x1f83d9ab, h7 = 0x5be0cd19;
    for (var offset = 0; offset < padded.length; offset += 64) {
      for (var i = 0; i < 16; i++) {
        var j = offset + i * 4;
        W[i] = (padded[j] << 24) | (padded[j + 1] << 16) | (padded[j + 2] << 8) | padded[j + 3];
      }
      for (i = 16; i < 64; i++) {
        var x = W[i - 15], y = W[i - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
      }
      var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
      for (i = 0; i < 64; i++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
    }
    return [h0, h1, h2, h3, h4, h5, h6, h7];
  }

  function zeroBits(words) {
    var bits = 0;
    for (var i = 0; i < words.length; i++) {
      if (words[i] === 0) { bits += 32; continue; }
      return bits + Math.clz32(words[i]);
    }
    return bits;
  }

  function solve(prefix, bits, done) {
    var head = utf8(prefix);
    var buffer = new Uint8Array(head.length + 20);
    buffer.set(head);
    var nonce = 0;
    (function batch() {
      var stop = nonce + 50000;  /* yield to the page between batches: it stays responsive */
      for (; nonce < stop; nonce++) {
        var digits = String(nonce);
        for (var i = 0; i < digits.length; i++) buffer[head.length + i] = digits.charCodeAt(i);
        if (zeroBits(sha256(buffer.subarray(0, head.length + digits.length))) >= bits) return done(digits);
      }
      setTimeout(batch, 0);
    })();
  }

  window.leadcapturePow = { sha256: sha256, solve: solve };  /* for the hashlib test and bench/pow_cost.py */

  var form = document.querySelector("form[data-pow-bits]");
  if (!form) return;
  var bits = parseInt(form.getAttribute("data-pow-bits"), 10);
  var status = document.getElementById("pow-status");
  var working = false;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (working) return;
    working = true;
    var button = form.querySelector("button[type=submit]");
    if (button) button.setAttribute("aria-disabled", "true");
    form.setAttribute("aria-busy", "true");
    if (status) status.textContent = status.getAttribute("data-working");
    var token = form.elements["csrf_token"].value;
    var email = form.elements["email"].value;
    solve(token + ":" + email + ":", bits, function (nonce) {
      form.elements["pow"].value = nonce;
      form.submit();
    });
  });
})();
