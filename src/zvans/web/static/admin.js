// Administration pages: ask before destructive actions (forms with class "confirm").
for (const form of document.querySelectorAll("form.confirm")) {
  form.addEventListener("submit", (e) => {
    if (!window.confirm(form.dataset.confirm || "?")) e.preventDefault();
  });
}
// Focus the first field with an error, so the message next to it is read out and seen.
document.querySelector("[aria-invalid=true]")?.focus();
