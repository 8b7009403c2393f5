(function () {
  var slot = document.getElementById('fastkafka-publish');
  var config = slot ? JSON.parse(slot.textContent) : null;
  if (!config) return;
  document.querySelectorAll('form.publish').forEach(function (form) {
    form.hidden = false;
    form.querySelector('.broker').textContent = config.broker;
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var out = form.querySelector('output');
      var payload = form.elements.payload.value;
      if (form.dataset.json === 'true') {
        try { JSON.parse(payload); } catch (e) { out.className = 'err'; out.textContent = 'The payload is not JSON: ' + e.message; return; }
      }
      out.className = ''; out.textContent = 'Publishing...';
      fetch('/publish', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ topic: form.dataset.topic, key: form.elements.key.value || null, payload: payload })
      }).then(function (r) { return r.json().then(function (body) { return [r.ok, body]; }); })
        .then(function (res) {
          out.className = res[0] ? 'ok' : 'err';
          out.textContent = res[0]
            ? 'Published to ' + res[1].topic + ', partition ' + res[1].partition + ' at offset ' + res[1].offset
            : 'Not published: ' + res[1].error;
        })
        .catch(function (e) { out.className = 'err'; out.textContent = 'Not published: ' + e; });
    });
  });
})();
