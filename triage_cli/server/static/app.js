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

  DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A") {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
  });

  function markdown(target, text) {
    // No forms or styles either: a reply must not be able to pose as the page's own controls.
    target.innerHTML = DOMPurify.sanitize(marked.parse(text, { async: false, gfm: true }),
      { FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select"] });
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
      this.text = "";
      this.drawing = 0;
      $("turns").append(this.node);
    }

    lookup(id, name, args) {
      let row = this.calls.get(id);
      if (!row) {
        row = element("li");
        row.append(element("span", "spinner"), element("span", "", `Looking up ${name}(${argumentsText(args)})`));
        this.lookups.append(row);
        this.calls.set(id, row);
      }
      return row;
    }

    finished(data) {
      const row = this.lookup(data.id, data.tool, "");
      const failed = data.ok === false;
      row.firstChild.replaceWith(element("span", failed ? "failed" : "ok", failed ? "✗ " : "✓ "));
      row.append(element("span", "dim", " → " + resultText(data.result)));
    }

    content(piece) {
      this.text += piece;
      if (!this.drawing) this.drawing = requestAnimationFrame(() => { this.drawing = 0; markdown(this.reply, this.text); });
    }

    say(className, text) {
      this.footer.append(element("div", className, text));
    }

    end() {
      if (this.drawing) cancelAnimationFrame(this.drawing);
      this.drawing = 0;
      markdown(this.reply, this.text);
      for (const row of this.calls.values()) {
        if (row.firstChild.classList.contains("spinner")) row.firstChild.replaceWith(element("span", "failed", "✗ "));
      }
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
          turn.text = String(data.content ?? turn.text);
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
    }
  }

  // --- the queue -----------------------------------------------------------------------------

  function agent() {
    const name = $("agent").value.trim();
    sessionStorage.setItem(AGENT_KEY, name);
    return name || undefined;
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
    if (ticket.assignee) {
      button("Release", () => act(`v1/tickets/${ticket.id}/release`, { agent: agent() }, `Released #${ticket.id}.`));
    } else {
      button("Claim", () => act("v1/tickets/claim", { ticket_id: ticket.id, agent: agent() }, `Claimed #${ticket.id}.`));
    }
    button("Close", () => closeTicket(ticket.id));
    item.append(buttons);
    return item;
  }

  async function refreshTickets() {
    try {
      const found = await json("GET", "v1/tickets?status=open");
      const tickets = Array.isArray(found) ? found : found.tickets || [];
      $("tickets").replaceChildren(...tickets.map(ticketItem));
      if (!tickets.length) $("tickets").append(element("li", "dim", "No open tickets."));
    } catch (error) {
      $("queue-message").textContent = error.message;
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
  $("close-cancel").addEventListener("click", () => $("close-dialog").close("cancel"));
  $("claim-next").addEventListener("click", () => act("v1/tickets/claim", { agent: agent() }, "Claimed the next ticket."));
  $("agent").value = sessionStorage.getItem(AGENT_KEY) || "";

  fetch("healthz", { cache: "no-store" }).then((r) => r.json()).then((health) => {
    $("status").textContent = [health.provider, health.model].filter(Boolean).join(" · ");
  }).catch(() => { $("status").textContent = "server not reachable"; });
  refreshTickets();
})();
