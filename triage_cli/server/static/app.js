// The page `triage serve` serves at `/`: a client of the same API as `triage ask --server`.
// Text from a model, a tool or a customer never becomes markup raw: the reply is Markdown made
// HTML by marked and cleaned by DOMPurify; everything else is set with textContent.
"use strict";

(() => {
  const TOKEN_KEY = "triage.token";
  const AGENT_KEY = "triage.agent";
  const LOST = "The connection to the triage server was lost mid-answer; the reply so far is kept above.";
  const $ = (id) => document.getElementById(id);
  let conversationId = null;
  let askingToken = null;
  let me = null; // who the server takes this tab for (GET /v1/me); asked again after a new token

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // --- the API -------------------------------------------------------------------------------

  function headers(json) {
    const result = { Accept: json ? "text/event-stream, application/json" : "application/json" };
    if (json) result["Content-Type"] = "application/json";
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) result.Authorization = "Bearer " + token;
    return result;
  }

  // The token is asked for once (when the server first answers 401) and kept for the tab.
  function askToken() {
    if (askingToken) return askingToken;
    askingToken = new Promise((resolve) => {
      const dialog = $("token-dialog");
      $("token-form").addEventListener("submit", () => {
        sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
        askingToken = null;
        resolve();
      }, { once: true });
      dialog.showModal();
      $("token").focus();
    });
    return askingToken;
  }

  async function api(method, path, body) {
    for (let attempt = 0; ; attempt++) {
      const response = await fetch(path, {
        method, headers: headers(body !== undefined), cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (response.status !== 401 || attempt > 0) return response;
      sessionStorage.removeItem(TOKEN_KEY);
      me = null;
      await askToken();
    }
  }

  async function failure(response) {
    if (response.status === 429) return "The server is answering too many questions at once; try again shortly.";
    if (response.status === 401) return "The server refused the token.";
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) return String(body.error.message);
    } catch (_) { /* not JSON */ }
    return `The server answered HTTP ${response.status}.`;
  }

  async function json(method, path, body) {
    const response = await api(method, path, body);
    if (!response.ok) throw new Error(await failure(response));
    return response.json();
  }

  // Server-sent events from a fetch body (EventSource cannot POST): [name, data] pairs.
  async function* events(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer = (buffer + decoder.decode(value, { stream: true })).replace(/\r\n|\r(?=.)/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let name = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (!line || line.startsWith(":")) continue;
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            let value = colon < 0 ? "" : line.slice(colon + 1);
            if (value.startsWith(" ")) value = value.slice(1);
            if (field === "event") name = value;
            else if (field === "data") data.push(value);
          }
          if (!data.length) continue;
          let parsed;
          try { parsed = JSON.parse(data.join("\n")); } catch (_) { continue; }
          yield [name, parsed];
        }
      }
    } finally {
      reader.releaseLock();
    }
  }

  // --- a turn --------------------------------------------------------------------------------

  // --- Markdown, block by block ---------------------------------------------------------------
  // A reply is drawn as it arrives without parsing it all again each frame: the blocks that can no
  // longer change (everything before a blank line that ends a block) are parsed, cleaned and
  // appended once; only the unfinished last block is parsed again as text comes in.

  // No forms or styles, and no images from elsewhere: a reply must not be able to pose as the
  // page's own controls, nor make the browser fetch anything (a pixel that tells who read it).
  const PURIFY = {
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "audio", "video", "source",
      "picture", "track", "image", "feimage", "use"],
    FORBID_ATTR: ["style", "srcset", "background", "poster"],
    RETURN_DOM_FRAGMENT: true,
  };
  const FRAME_BUDGET_MS = 8;  // of parsing in one frame; the rest waits for the next frame
  const FENCE = /^( *)(`{3,}|~{3,})(.*)$/;
  const LIST_ITEM = /^ {0,3}(?:[-+*]|\d{1,9}[.)])(?:[ \t]|$)/;

  DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A") {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
    if (node.hasAttribute && node.hasAttribute("src") && !(node.tagName === "IMG" && isDataUrl(node.getAttribute("src")))) {
      node.removeAttribute("src");
    }
  });

  function isDataUrl(value) {
    return /^\s*data:/i.test(value || "");
  }

  function markdownNodes(source) {
    return DOMPurify.sanitize(marked.parse(source, { async: false, gfm: true }), PURIFY);
  }

  function blockSource(text) {
    return text.replace(/^(?:[ \t]*\n)+/, "").trimEnd();
  }

  function isBlank(line) {
    return /^[ \t]*$/.test(line);
  }

  // Whether `line`, after a blank line, starts a new block: true, false, or null (not known yet:
  // `whole` is false while the line is still arriving). Indented lines continue what came before
  // (a list item's paragraph, indented code), and a list goes on with its next item.
  function startsBlock(line, inList, whole) {
    if (line === "") return null;
    if (line[0] === " " || line[0] === "\t") return false;
    if (!inList) return true;
    if (LIST_ITEM.test(line)) return false;
    return whole || !/^[-+*\d]/.test(line) || /[ \t]/.test(line) || line.length > 10 ? true : null;
  }

  function opensFence(line, inList) {
    const match = FENCE.exec(line);
    if (!match || (!inList && match[1].length > 3)) return null;
    if (match[2][0] === "`" && match[3].includes("`")) return null;
    return match[2];
  }

  function closesFence(line, fence) {
    const match = FENCE.exec(line);
    return Boolean(match && match[2][0] === fence[0] && match[2].length >= fence.length && isBlank(match[3]));
  }

  // The next finished block of `text` from `from`: {end, next} (its source is text[from, end),
  // the following block starts at `next`), or null while it may still change. With `final` the
  // text is all there is, so its rest is a finished block.
  function nextBlock(text, from, final) {
    let fence = null, inList = null, afterBlank = false, end = from, pos = from;
    while (pos < text.length) {
      const newline = text.indexOf("\n", pos);
      const whole = newline >= 0 || final;
      const stop = newline >= 0 ? newline : text.length;
      const line = text.slice(pos, stop);
      if (fence) {
        if (!whole) break;
        if (closesFence(line, fence)) fence = null;
        end = stop;
      } else if (isBlank(line)) {
        afterBlank = inList !== null;
      } else {
        if (afterBlank) {
          const starts = startsBlock(line, inList, whole);
          if (starts) return { end, next: pos };
          if (starts === null) return null;
          afterBlank = false;
        }
        if (inList === null) inList = LIST_ITEM.test(line);
        if (!whole) break;
        fence = opensFence(line, inList);
        end = stop;
      }
      pos = stop + 1;
    }
    return final && from < text.length ? { end, next: text.length } : null;
  }

  class MarkdownView {
    constructor(target) {
      this.target = target;
      this.reset();
    }

    reset() {
      this.target.replaceChildren();
      this.text = "";
      this.done = 0;  // text[0, done) is drawn as finished blocks
      this.tail = { source: "", nodes: [] };  // the unfinished block as last drawn
      this.final = false;
      this.frame = 0;
    }

    append(piece) {
      this.text += piece;
      this.schedule();
    }

    // The whole text, when it may not be what arrived piece by piece (then it is drawn again).
    replace(text) {
      if (text === this.text) return;
      if (!text.startsWith(this.text.slice(0, this.done))) this.reset();
      this.text = text;
      this.schedule();
    }

    // No more text: the rest is a finished block (drawn in the frames to come).
    end() {
      this.final = true;
      this.schedule();
    }

    schedule() {
      if (!this.frame) this.frame = requestAnimationFrame(() => this.draw());
    }

    draw() {
      this.frame = 0;
      const start = performance.now();
      let block;
      while ((block = nextBlock(this.text, this.done, this.final))) {
        this.finish(block);
        if (performance.now() - start > FRAME_BUDGET_MS) break;
      }
      if (block) this.schedule();
      else if (!this.final) this.drawTail();
    }

    finish({ end, next }) {
      const source = blockSource(this.text.slice(this.done, end));
      if (source !== this.tail.source) {
        this.tail.nodes.forEach((node) => node.remove());
        if (source) this.target.append(markdownNodes(source));
      }
      this.tail = { source: "", nodes: [] };
      this.done = next;
    }

    drawTail() {
      const source = blockSource(this.text.slice(this.done));
      if (source === this.tail.source) return;
      this.tail.nodes.forEach((node) => node.remove());
      const fragment = source ? markdownNodes(source) : document.createDocumentFragment();
      this.tail = { source, nodes: [...fragment.childNodes] };
      this.target.append(fragment);
    }
  }

  function argumentsText(value) {
    if (value && typeof value === "object") {
      return Object.entries(value).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ");
    }
    return String(value ?? "");
  }

  function resultText(result) {
    try {
      const data = JSON.parse(result);
      if (data && typeof data === "object") {
        if (data.found === false) return "not found";
        const parts = ["status", "carrier", "eta"].filter((k) => data[k]).map((k) => String(data[k]));
        if (parts.length) return parts.join(" · ").replace(/_/g, " ");
      }
    } catch (_) { /* text */ }
    const text = String(result ?? "");
    return text.length > 80 ? text.slice(0, 79) + "…" : text;
  }

  function recordCard(record) {
    const card = element("div", "record" + (record.next_step === "escalate" ? " escalate" : ""));
    card.append(element("h3", "", "Triage record"));
    const list = element("dl");
    const rows = [["Order", record.order_id || "none"], ["Issue", record.issue], ["Status", record.status],
      ["Next step", record.next_step], ["Summary", record.summary]];
    if (record.ticket !== null && record.ticket !== undefined) rows.push(["Ticket", `#${record.ticket} (open)`]);
    for (const [label, value] of rows) {
      list.append(element("dt", "", label), element("dd", "", String(value ?? "").replace(/_/g, " ")));
    }
    card.append(list);
    return card;
  }

  function usageText(usage) {
    const calls = usage.model_calls === 1 ? "1 model call" : `${usage.model_calls || "no"} model calls`;
    const parts = [calls];
    if (usage.model_calls) parts.push(`${usage.prompt_tokens || 0} in / ${usage.completion_tokens || 0} out tokens`);
    if (usage.ttft_ms !== null && usage.ttft_ms !== undefined) parts.push(`first token ${Math.round(usage.ttft_ms)} ms`);
    parts.push(`${((usage.total_ms || 0) / 1000).toFixed(1)} s`);
    return parts.join(" · ");
  }

  class Turn {
    constructor(message) {
      this.node = element("div", "turn");
      this.node.append(element("div", "question", message));
      this.lookups = element("ul", "lookups");
      this.reply = element("div", "reply");
      this.footer = element("div");
      this.node.append(this.lookups, this.reply, this.footer);
      this.calls = new Map();
      this.view = new MarkdownView(this.reply);
      this.waiting = null;
      $("turns").append(this.node);
      this.wait();
    }

    // "Waiting for the model… N s" while nothing shows progress: from the question to its first
    // text or lookup, and again after each round of lookups.
    wait() {
      if (this.waiting) return;
      const line = element("div", "waiting dim");
      const since = performance.now();
      const tick = () => { line.textContent = `Waiting for the model… ${Math.floor((performance.now() - since) / 1000)} s`; };
      tick();
      this.waiting = { line, timer: setInterval(tick, 1000) };
      this.node.insertBefore(line, this.reply);
    }

    stopWaiting() {
      if (!this.waiting) return;
      clearInterval(this.waiting.timer);
      this.waiting.line.remove();
      this.waiting = null;
    }

    // A lookup's row: "Looking up name(args)" with a spinner while it runs.
    lookup(id, name, args) {
      this.stopWaiting();
      let call = this.calls.get(id);
      if (!call) {
        call = { what: `${name}(${argumentsText(args)})`, icon: element("span", "spinner"), label: element("span"), done: false };
        call.label.textContent = `Looking up ${call.what}`;
        const row = element("li");
        row.append(call.icon, call.label);
        this.lookups.append(row);
        this.calls.set(id, call);
      }
      return call;
    }

    // Its result: "Looked up name(args)" with a tick (or a cross) and what it found.
    finished(data) {
      const call = this.lookup(data.id, data.tool, "");
      const failed = data.ok === false;
      this.mark(call, failed);
      call.label.textContent = `Looked up ${call.what}`;
      call.label.after(element("span", "dim", " → " + resultText(data.result)));
      if ([...this.calls.values()].every((c) => c.done)) this.wait();
    }

    mark(call, failed) {
      const icon = element("span", failed ? "failed" : "ok", failed ? "✗ " : "✓ ");
      call.icon.replaceWith(icon);
      call.icon = icon;
      call.done = true;
    }

    content(piece) {
      if (!piece) return;
      this.stopWaiting();
      this.view.append(piece);
    }

    // The reply as the server stored it (the same text, unless it was changed on the way).
    complete(text) {
      this.view.replace(text);
    }

    say(className, text) {
      this.footer.append(element("div", className, text));
    }

    end() {
      this.stopWaiting();
      this.view.end();
      for (const call of this.calls.values()) if (!call.done) this.mark(call, true);
    }
  }

  async function send(message, order) {
    const turn = new Turn(message);
    let started = false;
    let ended = false;
    try {
      const response = await api("POST", "v1/chat/stream",
        { message, conversation_id: conversationId, order: order || null });
      if (!response.ok) {
        turn.say("error", await failure(response));
        return;
      }
      started = true;
      // Read to the end of the body, past `done`: the server stores the turn after it, and a
      // page that hung up sooner would have the turn stored as interrupted.
      for await (const [name, data] of events(response)) {
        if (ended) continue;
        if (name === "conversation") conversationId = data.conversation_id;
        else if (name === "content") turn.content(String(data.content ?? ""));
        else if (name === "tool_calls") for (const call of data.tools || []) turn.lookup(call.id, call.name, call.arguments);
        else if (name === "tool_executing") turn.lookup(data.id, data.tool, "");
        else if (name === "tool_result") turn.finished(data);
        else if (name === "triage") turn.node.insertBefore(recordCard(data), turn.footer);
        else if (name === "usage") turn.say("usage", usageText(data));
        else if (name === "notice") turn.say("note", "note: " + String(data.message ?? ""));
        else if (name === "done") {
          if (data.content !== undefined && data.content !== null) turn.complete(String(data.content));
          turn.end();
          ended = true;
        } else if (name === "error") {
          turn.say("error", String(data.message || "The server failed to answer."));
          ended = true;
        }
      }
      if (!ended) turn.say("error", LOST);
    } catch (error) {
      // fetch rejects when nothing answers, and a read rejects when the connection drops.
      if (!ended) turn.say("error", started ? LOST : "Cannot reach the triage server.");
    } finally {
      turn.end();
      refreshTickets();
      refreshStats();
    }
  }

  // --- the queue -----------------------------------------------------------------------------

  function agent() {
    if (me && me.agent) return me.agent; // an agent's token says who acts: the server ignores the field
    const name = $("agent").value.trim();
    sessionStorage.setItem(AGENT_KEY, name);
    return name || undefined;
  }

  // With an agent's token the page knows who you are: it says so instead of asking your name.
  async function whoAmI() {
    if (me) return me;
    me = await json("GET", "v1/me");
    const known = Boolean(me.agent);
    $("agent-row").hidden = known;
    $("who").textContent = known ? `Signed in as ${me.agent}${me.lead ? " (lead)" : ""}` : "";
    return me;
  }

  function yours(ticket) {
    const name = agent();
    return Boolean(ticket.assignee && name && ticket.assignee.toLowerCase() === name.toLowerCase());
  }

  function eventLine(event) {
    const at = String(event.at || "").slice(0, 16).replace("T", " ");
    const forced = event.forced ? " (forced)" : "";
    const note = event.note ? `: ${event.note}` : "";
    return `${at} ${event.action} by ${event.agent || "triage"}${forced}${note}`;
  }

  // Who did what to a ticket and when, fetched when its History is opened.
  function historyOf(ticket) {
    const details = element("details", "history");
    const list = element("ol");
    details.append(element("summary", "", "History"), list);
    details.addEventListener("toggle", async () => {
      if (!details.open) return;
      try {
        const found = await json("GET", `v1/tickets/${ticket.id}`);
        list.replaceChildren(...(found.events || []).map((e) => element("li", "", eventLine(e))));
      } catch (error) {
        list.replaceChildren(element("li", "dim", error.message));
      }
    });
    return details;
  }

  async function act(path, body, done) {
    $("queue-message").textContent = "";
    try {
      await json("POST", path, body);
      if (done) $("queue-message").textContent = done;
    } catch (error) {
      $("queue-message").textContent = error.message;
    }
    await refreshTickets();
  }

  // The closing note is asked for in a dialog; only "Close ticket" closes (Cancel and Esc do not).
  function askCloseNote(id) {
    const dialog = $("close-dialog");
    $("close-title").textContent = `Close ticket #${id}`;
    $("close-note").value = "";
    dialog.returnValue = "";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        resolve(dialog.returnValue === "confirm" ? $("close-note").value.trim() : null);
      }, { once: true });
      dialog.showModal();
      $("close-note").focus();
    });
  }

  async function closeTicket(id) {
    const note = await askCloseNote(id);
    if (note === null) return;
    await act(`v1/tickets/${id}/close`, { note: note || null, agent: agent() || null }, `Closed #${id}.`);
  }

  function ticketItem(ticket) {
    const item = element("li");
    item.dataset.ticket = ticket.id;
    const head = element("div", "row");
    head.append(element("strong", "", `#${ticket.id}`), element("span", "", ticket.order_id || "no order"),
      element("span", "dim", ticket.assignee ? `held by ${ticket.assignee}` : "unclaimed"));
    item.append(head, element("span", "summary", ticket.summary || ticket.issue || ""));
    const buttons = element("div", "row");
    const button = (label, action) => {
      const b = element("button", "", label);
      b.type = "button";
      b.addEventListener("click", action);
      buttons.append(b);
    };
    if (yours(ticket)) {
      button("Release", () => act(`v1/tickets/${ticket.id}/release`, { agent: agent() }, `Released #${ticket.id}.`));
    } else if (!ticket.assignee) {
      button("Claim", () => act("v1/tickets/claim", { ticket_id: ticket.id, agent: agent() }, `Claimed #${ticket.id}.`));
    }
    if (yours(ticket) || !ticket.assignee) button("Close", () => closeTicket(ticket.id));
    item.append(buttons, historyOf(ticket));
    return item;
  }

  async function refreshTickets() {
    try {
      await whoAmI();
      const found = await json("GET", "v1/tickets?status=open");
      const tickets = Array.isArray(found) ? found : found.tickets || [];
      $("tickets").replaceChildren(...tickets.map(ticketItem));
      if (!tickets.length) $("tickets").append(element("li", "dim", "No open tickets."));
    } catch (error) {
      $("queue-message").textContent = error.message;
    }
  }

  // The period's figures (GET /v1/stats: `triage stats --json`'s object), a bar a day.
  async function refreshStats() {
    try {
      const figures = await json("GET", "v1/stats?since=7d");
      const rate = figures.escalation_rate === null ? "" : ` (${Math.round(figures.escalation_rate * 100)}%)`;
      const rows = [
        ["Turns", `${figures.turns} in ${figures.conversations} conversations`],
        ["Escalated", `${figures.escalations}${rate}`],
        ["Tickets", `${figures.tickets.opened} opened, ${figures.tickets.closed} closed, ${figures.tickets.open_now} open now`],
        ["To claim (median)", figures.tickets.to_claim_minutes.median === null ? "-"
          : `${Math.round(figures.tickets.to_claim_minutes.median)} min`],
        ["Top topics", Object.entries(figures.by_topic).slice(0, 3).map(([k, v]) => `${k} ${v}`).join(", ") || "-"],
      ];
      $("figures").replaceChildren(...rows.flatMap(([term, value]) => [element("dt", "", term), element("dd", "", value)]));
      const widest = Math.max(1, ...figures.per_day.map((day) => day.turns));
      $("days").replaceChildren(...figures.per_day.map((day) => {
        const item = element("li", "day");
        const bar = element("span", "bar");
        bar.style.width = `${Math.round(100 * day.turns / widest)}%`;
        item.append(element("span", "dim", day.day), bar, element("span", "", `${day.turns} (${day.escalations})`));
        return item;
      }));
    } catch (error) {
      $("figures").replaceChildren(element("dd", "dim", error.message));
    }
  }

  // --- the page ------------------------------------------------------------------------------

  $("ask").addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = $("message").value.trim();
    if (!message) return;
    $("send").disabled = true;
    $("message").value = "";
    try {
      await send(message, $("order").value.trim());
    } finally {
      $("send").disabled = false;
      $("message").focus();
    }
  });
  $("message").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("ask").requestSubmit();
    }
  });
  $("new-conversation").addEventListener("click", () => {
    conversationId = null;
    $("turns").replaceChildren();
    $("message").focus();
  });
  $("refresh").addEventListener("click", refreshTickets);
  $("stats-refresh").addEventListener("click", refreshStats);
  $("close-cancel").addEventListener("click", () => $("close-dialog").close("cancel"));
  $("claim-next").addEventListener("click", () => act("v1/tickets/claim", { agent: agent() }, "Claimed the next ticket."));
  $("agent").value = sessionStorage.getItem(AGENT_KEY) || "";

  fetch("healthz", { cache: "no-store" }).then((r) => r.json()).then((health) => {
    $("status").textContent = [health.provider, health.model].filter(Boolean).join(" · ");
  }).catch(() => { $("status").textContent = "server not reachable"; });
  refreshTickets();
  refreshStats();
})();
