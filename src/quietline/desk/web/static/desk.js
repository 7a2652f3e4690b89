// The desk's only script: served by the desk itself, never inline (the pages' policy
// forbids it). It fills the reply's space meter from the desk's own measure of the
// padded compressed string, and tells of new messages while a page is open.
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const unlocked = document.body.dataset.unlocked === "yes";

  function meter() {
    const text = document.getElementById("reply-text");
    const gauge = document.getElementById("space");
    const said = document.getElementById("space-text");
    if (!text || !gauge || !said) return;
    let pending = null;
    async function measure() {
      const answer = await fetch("/api/space", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ text: text.value }),
        credentials: "same-origin",
      });
      if (answer.status === 401) { window.location.assign("/unlock"); return; }
      if (!answer.ok) return;
      const space = await answer.json();
      const used = Math.min(space.used, 1);
      gauge.value = used;
      gauge.textContent = Math.round(used * 100) + "%";
      const left = Math.max(0, Math.round((1 - space.used) * 100));
      said.textContent = space.fits
        ? left + "% of the space left"
        : "Too long: it does not fit in one message";
      gauge.parentElement.classList.toggle("full", !space.fits);
      text.dataset.fits = space.fits ? "yes" : "no";
    }
    text.addEventListener("input", function () {
      clearTimeout(pending);
      pending = setTimeout(measure, 120);
    });
    measure();
  }

  function notifications() {
    if (!unlocked) return;
    const notice = document.getElementById("notice");
    const title = document.title;
    let known = null;
    async function poll() {
      const answer = await fetch("/api/updates", { credentials: "same-origin" });
      if (answer.status === 401) { window.location.assign("/unlock"); return; }
      if (!answer.ok) return;
      const news = await answer.json();
      if (known !== null && news.unread > known) {
        notice.textContent = news.unread + " unread message" + (news.unread === 1 ? "" : "s") +
          ": open the inbox to read them.";
        notice.hidden = false;
      }
      document.title = (news.unread ? "(" + news.unread + ") " : "") + title;
      known = news.unread;
    }
    poll();
    setInterval(poll, 1000 * Number(document.body.dataset.poll || 5));
  }

  meter();
  notifications();
})();
