() => {
  // Accessible names for what Gradio renders without one.
  const ALT = {"gif": "the run as an animated GIF", "final-images": "the final characters, one tile each",
               "compare-image": "the two samplers' results side by side"};
  const fix = () => {
    // Empty outputs are divs labelled "Empty value" with no role, which ARIA forbids; as pictures they read the same.
    document.querySelectorAll('div[aria-label]:not([role])').forEach((element) => element.setAttribute('role', 'img'));
    for (const [id, text] of Object.entries(ALT)) {
      document.querySelectorAll(`#${id} img:not([alt]), #${id} img[alt=""]`).forEach((img) => img.setAttribute('alt', text));
      document.querySelectorAll(`#${id} button:not([aria-label])`).forEach((button) => {
        if (!button.innerText.trim()) button.setAttribute('aria-label', `${text}: open it full screen`);
      });
    }
  };
  fix();
  new MutationObserver(fix).observe(document.body, {childList: true, subtree: true});
}
