// The revenue page's charts, drawn with Chart.js from the figures the page carries
// as JSON (#revenue-data). The tables on the page hold the same numbers.

const source = document.getElementById("revenue-data");
if (source && window.Chart) {
  const report = JSON.parse(source.textContent);
  const css = getComputedStyle(document.documentElement);
  const colour = (name) => css.getPropertyValue(name).trim();
  const accent = colour("--accent");
  const ok = colour("--ok");
  const danger = colour("--danger");
  const muted = colour("--muted");
  const line = colour("--line");
  const reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  Chart.defaults.color = muted;
  Chart.defaults.borderColor = line;
  Chart.defaults.font.family = css.fontFamily;
  Chart.defaults.maintainAspectRatio = false;
  if (reduceMotion) Chart.defaults.animation = false;

  const currency = report.currency.toUpperCase();
  const money = new Intl.NumberFormat(undefined, { style: "currency", currency });
  const days = report.days.map((day) => day.date);
  // Dates as the pages write them ("3 Dec 2026"; "3 Dec" under the bars), in UTC like the figures.
  const dayOf = (iso, options) =>
    new Date(`${iso}T00:00:00Z`).toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC", ...options });
  const shortDay = (iso) => dayOf(iso, {});
  const fullDay = (iso) => dayOf(iso, { year: "numeric" });
  const dayAxis = { ticks: { callback: (_, index) => shortDay(days[index]), maxRotation: 0, autoSkipPadding: 12 } };
  const countAxis = { beginAtZero: true, ticks: { precision: 0 } };

  new Chart(document.getElementById("chart-movement"), {
    type: "bar",
    data: {
      labels: days.map(fullDay),
      datasets: [
        { label: "New", data: report.days.map((day) => day.new), backgroundColor: ok },
        { label: "Churned", data: report.days.map((day) => day.churned), backgroundColor: danger },
      ],
    },
    options: {
      scales: { x: dayAxis, y: countAxis },
      plugins: { tooltip: { callbacks: { title: (items) => shortDay(days[items[0].dataIndex]) } } },
    },
  });

  new Chart(document.getElementById("chart-revenue"), {
    type: "bar",
    data: {
      labels: days.map(fullDay),
      datasets: [{ label: "Revenue", data: report.days.map((day) => day.revenue / 100), backgroundColor: accent }],
    },
    options: {
      scales: { x: dayAxis, y: { beginAtZero: true, ticks: { callback: (value) => money.format(value) } } },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            title: (items) => shortDay(days[items[0].dataIndex]),
            label: (item) => `Revenue: ${money.format(item.parsed.y)}`,
          },
        },
      },
    },
  });

  const plans = report.active_by_plan;
  new Chart(document.getElementById("chart-plans"), {
    type: "bar",
    data: {
      labels: plans.map((row) => row.plan.charAt(0) + row.plan.slice(1).toLowerCase()),
      datasets: [
        {
          label: "Active",
          data: plans.map((row) => row.active),
          backgroundColor: plans.map((row) => colour(`--plan-${row.plan.toLowerCase()}`) || accent),
        },
      ],
    },
    options: { indexAxis: "y", scales: { x: countAxis }, plugins: { legend: { display: false } } },
  });
}
