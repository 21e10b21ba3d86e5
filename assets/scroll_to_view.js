(...args) => {
  const view = document.querySelector('#live-canvas');
  const box = view && view.getBoundingClientRect();
  if (box && (box.top < 0 || box.bottom > window.innerHeight)) view.scrollIntoView({behavior: 'instant', block: 'start'});
  return args;
}
