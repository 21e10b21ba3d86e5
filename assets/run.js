(...args) => {
  // args are /sample's inputs; the 8th is the seed. window.diffusionNewSeed follows the checkbox.
  if (window.diffusionNewSeed !== false) args[7] = Math.floor(Math.random() * 2147483647);
  const view = document.querySelector('#live-canvas');
  const box = view && view.getBoundingClientRect();
  if (box && (box.top < 0 || box.bottom > window.innerHeight)) view.scrollIntoView({behavior: 'instant', block: 'start'});
  return args;
}
