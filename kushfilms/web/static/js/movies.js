// Browsing: the home page's rows scroll sideways with buttons (links stay in the
// tab order, so the keyboard scrolls them too), and the catalogue's sort choice
// follows the search box ("Best match" while searching, "Newest" otherwise).

for (const frame of document.querySelectorAll(".scroller-frame")) {
  const list = frame.querySelector(".scroller");
  const back = frame.querySelector(".scroller-back");
  const forward = frame.querySelector(".scroller-forward");
  const sync = () => {
    const end = list.scrollWidth - list.clientWidth - 8;
    back.hidden = list.scrollLeft <= 8;
    forward.hidden = list.scrollLeft >= end;
  };
  for (const button of [back, forward]) {
    button.addEventListener("click", () => {
      const step = Number(button.dataset.scroll) * list.clientWidth * 0.9;
      list.scrollBy({ left: step, behavior: "smooth" });
    });
  }
  list.addEventListener("scroll", sync, { passive: true });
  window.addEventListener("resize", sync);
  sync();
}

const search = document.getElementById("movie-search");
const sort = document.getElementById("movie-sort");
if (search && sort) {
  const byDefault = sort.querySelector("[data-default-sort]");
  const newest = sort.querySelector('option[value="newest"]');
  search.addEventListener("input", () => {
    const searching = search.value.trim() !== "";
    byDefault.textContent = searching ? "Best match" : "Newest";
    newest.hidden = !searching;
    if (!searching && sort.value === "newest") sort.value = "";
  });
}
