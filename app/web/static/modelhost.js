/* Progressive enhancement for the model page: warn about an over-size file before uploading it.
   Without JavaScript the server answers the same message after the upload. */
document.querySelectorAll("form.upload[data-max-bytes]").forEach(function (form) {
  var input = form.querySelector("input[type=file]");
  var message = form.querySelector(".upload-error");
  var limit = Number(form.dataset.maxBytes);
  form.addEventListener("submit", function (event) {
    var file = input.files && input.files[0];
    message.hidden = true;
    if (!file) {
      event.preventDefault();
      message.textContent = "Choose a CSV file to score, then press Score file.";
      message.hidden = false;
    } else if (file.size > limit) {
      event.preventDefault();
      message.textContent = "The file is larger than the upload limit of " + form.dataset.maxSize +
        ". Split it into files of under " + form.dataset.maxSize +
        " (keep the header row in each) and score them one by one.";
      message.hidden = false;
    }
  });
});
