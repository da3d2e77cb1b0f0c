// The site's one script; every page works without it except the two things it adds:
// copying a download link, and the console's streamed upload with a progress bar.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  field.select();
  const done = () => { button.textContent = "Copied"; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done, () => {
      document.execCommand("copy");
      done();
    });
  } else {
    document.execCommand("copy");
    done();
  }
});

// The console's ingest: the file is the request body (streamed, any size); the other fields are
// the query; the form token goes in X-Form-Token.
const ingest = document.getElementById("ingest-form");
if (ingest) {
  ingest.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = document.getElementById("file").files[0];
    const status = document.getElementById("ingest-status");
    const progress = document.getElementById("ingest-progress");
    if (!file) { status.textContent = "Choose a file first."; return; }
    const query = new URLSearchParams();
    for (const input of ingest.querySelectorAll("input[name], textarea[name]")) {
      if (input.type === "file") continue;
      if (input.type === "checkbox") { if (input.checked) query.set(input.name, input.value); continue; }
      if (input.value.trim() !== "") query.set(input.name, input.value.trim());
    }
    const request = new XMLHttpRequest();
    request.open("POST", "/admin/ingest?" + query.toString());
    request.setRequestHeader("X-Form-Token", ingest.dataset.token);
    request.setRequestHeader("Content-Type", "application/octet-stream");
    request.upload.onprogress = (e) => {
      if (e.lengthComputable) {
        progress.value = Math.round((e.loaded / e.total) * 100);
        status.textContent = "Uploading: " + progress.value + " %";
      }
    };
    request.upload.onload = () => { status.textContent = "Uploaded; sealing and storing on the primary parent …"; };
    request.onload = () => {
      let answer = {};
      try { answer = JSON.parse(request.responseText); } catch (_) { /* not JSON */ }
      if (request.status === 201) {
        progress.value = 100;
        status.innerHTML = "";
        status.append("Ingested ", answer.title || answer.id, " (version " + answer.version + "). ");
        const link = document.createElement("a");
        link.href = "/admin/items/" + answer.id;
        link.textContent = "Edit it";
        status.append(link);
      } else {
        status.textContent = "Ingest failed: " + (answer.message || request.status + " " + request.statusText);
      }
    };
    request.onerror = () => { status.textContent = "The upload was interrupted; nothing was published. Try again."; };
    status.textContent = "Uploading …";
    request.send(file);
  });
}
