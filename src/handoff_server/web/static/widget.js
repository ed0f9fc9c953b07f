/*
 * handoff web chat widget: one script tag, plain ES2020, no build step, no dependencies.
 *
 *   <script src="https://chat.example.com/widget.js" defer
 *           data-server="wss://chat.example.com"   (default: the script's own host)
 *           data-name="Ada" data-email="ada@example.com" data-field-plan="Pro"
 *           data-prechat="name,email" data-title="Chat with us"></script>
 *
 * Speaks protocol v1 on /v1/visitor (docs/architecture.md, docs/widget.md). The
 * conversation id and resume token are kept in localStorage, so a reload resumes it;
 * a dropped connection is resumed with back-off and every message the server has not
 * acknowledged is sent again with its client message id (the server stores it once).
 * Untrusted text (every party's) is only ever set with textContent: no innerHTML.
 * Keep-alive: the server pings every 20 s and the browser answers by itself.
 */
(() => {
  "use strict";

  const script = document.currentScript;
  if (!script || window.HandoffWidget) return;

  const INITIAL_BACKOFF_MS = 500;
  const MAX_BACKOFF_MS = 10000;
  const TYPING_REPEAT_MS = 4000;
  const AGENT_TYPING_SHOWN_MS = 8000;
  /** The conversation's status after an event of this kind (docs/architecture.md). */
  const STATUS_AFTER = {
    escalated: "queued",
    claimed: "assigned",
    released: "queued",
    transferred: "queued",
    requeued: "queued",
    handed_back: "ai",
    resolved: "resolved",
    reopened: "ai",
    callback_done: "resolved",
    offline_reply: "resolved",
  };

  // ------------------------------------------------------------------ configuration

  function readConfig(el) {
    const src = new URL(el.src, document.baseURI);
    const fallbackServer = (src.protocol === "https:" ? "wss://" : "ws://") + src.host;
    const fields = {};
    for (const attr of Array.from(el.attributes)) {
      if (attr.name.startsWith("data-field-") && attr.value) {
        fields[attr.name.slice("data-field-".length)] = attr.value;
      }
    }
    const prechat = (el.dataset.prechat || "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s === "name" || s === "email");
    return {
      server: (el.dataset.server || fallbackServer).replace(/\/+$/, ""),
      assets: src.origin,
      title: el.dataset.title || "Chat with us",
      greeting:
        el.dataset.greeting ||
        "Hi! Ask us anything. A person can take over whenever you like.",
      aiName: el.dataset.aiName || "Assistant",
      name: el.dataset.name || null,
      email: el.dataset.email || null,
      fields,
      prechat,
    };
  }

  const cfg = readConfig(script);
  const storageKey = "handoff-widget:" + cfg.server;

  const storage = {
    load() {
      try {
        return JSON.parse(window.localStorage.getItem(storageKey) || "null") || {};
      } catch (_) {
        return {};
      }
    },
    save(state) {
      try {
        window.localStorage.setItem(storageKey, JSON.stringify(state));
      } catch (_) {
        /* storage full or disabled: the conversation lasts as long as the page */
      }
    },
    clear() {
      try {
        window.localStorage.removeItem(storageKey);
      } catch (_) {
        /* nothing to clear */
      }
    },
  };

  function newClientMsgId() {
    const bytes = new Uint8Array(8);
    window.crypto.getRandomValues(bytes);
    return "w-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // ------------------------------------------------------------------ DOM helpers

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "className") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  /** A speech bubble drawn in SVG (no font or image needed). */
  function chatIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "20");
    svg.setAttribute("height", "20");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z");
    path.setAttribute("fill", "currentColor");
    svg.append(path);
    return svg;
  }

  // ------------------------------------------------------------------ safe Markdown

  const INLINE =
    /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(__[^_\n]+__)|(\[[^\]\n]+\]\([^)\s]+\))|(\*[^*\s][^*\n]*\*)|(_[^_\s][^_\n]*_)/g;

  function safeHref(href) {
    try {
      const url = new URL(href, document.baseURI);
      return ["http:", "https:", "mailto:"].includes(url.protocol) ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function inline(text, parent) {
    let last = 0;
    for (const m of text.matchAll(INLINE)) {
      if (m.index > last) parent.append(document.createTextNode(text.slice(last, m.index)));
      const tok = m[0];
      if (m[1]) parent.append(h("code", { text: tok.slice(1, -1) }));
      else if (m[2] || m[3]) inline(tok.slice(2, -2), parent.appendChild(h("strong")));
      else if (m[5] || m[6]) inline(tok.slice(1, -1), parent.appendChild(h("em")));
      else {
        const close = tok.indexOf("](");
        const label = tok.slice(1, close);
        const href = safeHref(tok.slice(close + 2, -1));
        if (href) {
          const a = h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow" });
          inline(label, a);
          parent.append(a);
        } else {
          parent.append(document.createTextNode(label));
        }
      }
      last = m.index + tok.length;
    }
    if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
  }

  /** Markdown (paragraphs, headings, lists, code, bold, italic, links) as DOM nodes. */
  function markdown(text) {
    const root = h("div", { className: "hw-md" });
    const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
    let para = null;
    let list = null;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (/^\s*```/.test(line)) {
        const code = [];
        while (++i < lines.length && !/^\s*```/.test(lines[i])) code.push(lines[i]);
        root.append(h("pre", {}, h("code", { text: code.join("\n") })));
        para = list = null;
        continue;
      }
      const heading = /^\s{0,3}#{1,6}\s+(.*)$/.exec(line);
      const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
      const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
      if (!line.trim()) {
        para = list = null;
      } else if (heading) {
        const p = h("p", { className: "hw-heading" });
        inline(heading[1], p.appendChild(h("strong")));
        root.append(p);
        para = list = null;
      } else if (bullet || numbered) {
        const tag = bullet ? "ul" : "ol";
        if (!list || list.tagName.toLowerCase() !== tag) list = root.appendChild(h(tag));
        inline((bullet || numbered)[1], list.appendChild(h("li")));
        para = null;
      } else if (list && /^\s{2,}\S/.test(line)) {
        inline(" " + line.trim(), list.lastElementChild);
      } else {
        if (!para) para = root.appendChild(h("p"));
        else para.append(h("br"));
        inline(line, para);
        list = null;
      }
    }
    return root;
  }

  // ------------------------------------------------------------------ the link

  /**
   * The visitor's conversation over as many websocket connections as it takes.
   * onFrame(frame) gets each event once (by seq), each ack once, and the other frames.
   */
  class Link {
    constructor(url, onFrame, onStatus) {
      this.url = url + "/v1/visitor";
      this.onFrame = onFrame;
      this.onStatus = onStatus;
      const saved = storage.load();
      this.conversationId = saved.conversation_id || null;
      this.resumeToken = saved.resume_token || null;
      this.visitor = saved.visitor || null;
      this.unacked = new Map((saved.unacked || []).map((f) => [f.client_msg_id, f]));
      this.lastSeq = 0; // a new page replays the whole conversation
      this.ws = null;
      this.attempt = 0;
      this.timer = null;
      this.wanted = Boolean(this.conversationId);
      this.panelOpen = Boolean(saved.open);
    }

    get started() {
      return Boolean(this.conversationId) || Boolean(this.visitor);
    }

    persist() {
      storage.save({
        conversation_id: this.conversationId,
        resume_token: this.resumeToken,
        visitor: this.conversationId ? null : this.visitor,
        unacked: Array.from(this.unacked.values()),
        open: this.panelOpen,
      });
    }

    start(visitor) {
      this.visitor = visitor;
      this.wanted = true;
      this.persist();
      this.connect();
    }

    connect() {
      if (!this.wanted || this.ws || this.timer) return;
      this.onStatus(this.attempt ? "reconnecting" : "connecting");
      let ws;
      try {
        ws = new WebSocket(this.url);
      } catch (_) {
        this.retry();
        return;
      }
      this.ws = ws;
      ws.onopen = () => {
        if (this.conversationId && this.resumeToken) {
          this.raw({
            type: "resume",
            conversation_id: this.conversationId,
            resume_token: this.resumeToken,
            last_seq: this.lastSeq,
          });
        } else {
          this.raw({ type: "start", visitor: this.visitor || {} });
        }
        for (const frame of this.unacked.values()) this.raw(frame);
      };
      ws.onmessage = (msg) => {
        let frame;
        try {
          frame = JSON.parse(msg.data);
        } catch (_) {
          return;
        }
        if (this.accept(frame)) this.onFrame(frame);
      };
      ws.onclose = () => {
        if (this.ws !== ws) return;
        this.ws = null;
        this.retry();
      };
    }

    retry() {
      if (!this.wanted) return;
      this.attempt += 1;
      const base = Math.min(MAX_BACKOFF_MS, INITIAL_BACKOFF_MS * 2 ** (this.attempt - 1));
      const delay = base / 2 + Math.random() * (base / 2); // equal jitter
      this.onStatus("offline", delay);
      this.timer = window.setTimeout(() => {
        this.timer = null;
        this.connect();
      }, delay);
    }

    /** Reconnect now (the browser says the network is back). */
    nudge() {
      if (this.timer) {
        window.clearTimeout(this.timer);
        this.timer = null;
        this.connect();
      }
    }

    accept(frame) {
      if (frame.type === "welcome") {
        this.conversationId = frame.conversation_id;
        this.resumeToken = frame.resume_token;
        this.attempt = 0;
        this.persist();
        this.onStatus("online");
      } else if (frame.type === "event") {
        if (frame.event.seq <= this.lastSeq) return false;
        this.lastSeq = frame.event.seq;
      } else if (frame.type === "ack") {
        if (!this.unacked.delete(frame.client_msg_id)) return false;
        this.persist();
      } else if (frame.type === "error") {
        if (frame.code === "bad_resume_token") {
          this.reset();
        } else if (frame.client_msg_id) {
          if (!this.unacked.delete(frame.client_msg_id)) return false;
          this.persist();
        }
      }
      return true;
    }

    /** Send a frame carrying a client_msg_id: kept until acknowledged, resent on reconnect. */
    send(frame) {
      this.unacked.set(frame.client_msg_id, frame);
      this.persist();
      // An open socket has had its start or resume first: the server reads in order.
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.raw(frame);
      else this.connect();
    }

    /** Send a frame that is worth nothing later (typing). */
    volatile(frame) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.raw(frame);
    }

    raw(frame) {
      this.ws.send(JSON.stringify(frame));
    }

    reset() {
      this.conversationId = this.resumeToken = this.visitor = null;
      this.unacked.clear();
      this.wanted = false;
      this.lastSeq = 0;
      storage.clear();
      if (this.ws) {
        const ws = this.ws;
        this.ws = null;
        ws.close();
      }
    }
  }

  // ------------------------------------------------------------------ the view

  class Widget {
    constructor() {
      this.host = h("div", { id: "handoff-widget", hidden: true });
      this.root = this.host.attachShadow({ mode: "open" });
      const css = h("link", { rel: "stylesheet", href: cfg.assets + "/widget.css" });
      css.addEventListener("load", () => this.host.removeAttribute("hidden"));
      css.addEventListener("error", () => console.warn("handoff widget: cannot load", css.href));
      this.root.append(css);
      this.build();
      this.lastTyping = 0;
      this.typingTimer = null;
      this.maxChars = 4000;
      this.link = new Link(
        cfg.server,
        (f) => this.frame(f),
        (s, d) => this.status(s, d),
      );
      for (const frame of this.link.unacked.values()) this.pending(frame);
      this.showForms();
      if (this.link.wanted) this.link.connect();
      window.addEventListener("online", () => this.link.nudge());
      document.body.append(this.host);
      if (this.link.panelOpen) this.open({ focus: false });
    }

    build() {
      this.launcher = h(
        "button",
        {
          type: "button",
          name: "launcher",
          className: "hw-launcher",
          "aria-expanded": "false",
          "aria-controls": "hw-panel",
          onclick: () => this.toggle(),
        },
        chatIcon(),
        h("span", { text: cfg.title }),
        (this.badge = h("span", { className: "hw-badge", hidden: true, text: "new" })),
      );
      this.connection = h("p", { className: "hw-connection", role: "status" });
      this.log = h("div", {
        className: "hw-log",
        role: "log",
        "aria-live": "polite",
        "aria-label": "Conversation",
      });
      this.log.append(h("p", { className: "hw-line hw-greeting", text: cfg.greeting }));
      this.outbox = h("div", { className: "hw-outbox", "aria-label": "Sending" });
      this.fallback = h("div", { className: "hw-fallback", hidden: true });
      this.scroller = h("div", { className: "hw-scroll" }, this.log, this.outbox, this.fallback);
      this.typing = h("p", { className: "hw-typing", "aria-live": "polite" });
      this.waitStatus = h("p", { className: "hw-wait", role: "status", hidden: true });
      this.prechat = this.buildPrechat();
      this.compose = this.buildCompose();
      this.human = h("button", {
        type: "button",
        className: "hw-human",
        text: "Talk to a person",
        onclick: () => this.requestHuman(),
      });
      this.panel = h(
        "section",
        {
          id: "hw-panel",
          className: "hw-panel",
          role: "dialog",
          "aria-label": cfg.title,
          hidden: true,
          onkeydown: (e) => {
            if (e.key === "Escape") this.close();
          },
        },
        h(
          "header",
          { className: "hw-header" },
          h("h2", { text: cfg.title }),
          h("button", {
            type: "button",
            className: "hw-close",
            "aria-label": "Close chat",
            text: "\u00D7",
            onclick: () => this.close(),
          }),
        ),
        this.connection,
        this.scroller,
        this.typing,
        this.waitStatus,
        this.prechat,
        this.compose,
        h("footer", { className: "hw-footer" }, this.human),
      );
      this.root.append(this.launcher, this.panel);
    }

    field(label, input) {
      const id = "hw-" + input.name + "-" + Math.random().toString(36).slice(2, 8);
      input.id = id;
      return h("p", { className: "hw-field" }, h("label", { for: id, text: label }), input);
    }

    buildPrechat() {
      const form = h("form", { className: "hw-prechat", hidden: true, "aria-label": "About you" });
      form.append(h("p", { className: "hw-intro", text: "Before we start, who are we talking to?" }));
      if (cfg.prechat.includes("name")) {
        form.append(
          this.field("Your name", h("input", { name: "name", autocomplete: "name", required: true, maxlength: 500 })),
        );
      }
      if (cfg.prechat.includes("email")) {
        form.append(
          this.field(
            "Your email",
            h("input", { name: "email", type: "email", autocomplete: "email", required: true, maxlength: 500 }),
          ),
        );
      }
      form.append(h("button", { type: "submit", className: "hw-primary", text: "Start chat" }));
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        const data = new FormData(form);
        this.prechatAnswers = {
          name: (data.get("name") || "").toString().trim() || null,
          email: (data.get("email") || "").toString().trim() || null,
        };
        this.prechatDone = true;
        this.showForms();
        this.input.focus();
      });
      return form;
    }

    buildCompose() {
      this.input = h("textarea", {
        name: "message",
        rows: 2,
        placeholder: "Type your message",
        maxlength: this.maxChars || 4000,
      });
      this.input.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          this.submit();
        }
      });
      this.input.addEventListener("input", () => this.typed());
      const form = h(
        "form",
        { className: "hw-compose", "aria-label": "Send a message" },
        h("label", { className: "hw-sr", for: "hw-input", text: "Your message" }),
        this.input,
        h("button", { type: "submit", className: "hw-primary", text: "Send" }),
      );
      this.input.id = "hw-input";
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        this.submit();
      });
      return form;
    }

    needsPrechat() {
      const missing = cfg.prechat.filter((k) => !cfg[k]);
      return missing.length > 0 && !this.link.started && !this.prechatDone;
    }

    showForms() {
      const ask = this.needsPrechat();
      this.prechat.hidden = !ask;
      this.compose.hidden = ask;
      // A person is asked for already while the conversation waits for or has one.
      this.human.hidden = ask || this.convStatus === "queued" || this.convStatus === "assigned";
    }

    // -------------------------------------------------------------- open / close

    toggle() {
      if (this.panel.hidden) this.open();
      else this.close();
    }

    /** Show the panel; move the focus into it unless reopened by a page load. */
    open(options) {
      this.panel.hidden = false;
      this.launcher.setAttribute("aria-expanded", "true");
      this.badge.hidden = true;
      this.remember(true);
      this.scrollDown();
      if (options && options.focus === false) return;
      const first = this.prechat.hidden ? this.input : this.prechat.querySelector("input");
      (first || this.input).focus();
    }

    close() {
      this.panel.hidden = true;
      this.launcher.setAttribute("aria-expanded", "false");
      this.remember(false);
      this.launcher.focus();
    }

    /** Keep the panel open across page loads while a conversation goes on. */
    remember(open) {
      this.link.panelOpen = open;
      if (this.link.started) this.link.persist();
    }

    // -------------------------------------------------------------- sending

    visitorInfo() {
      const answers = this.prechatAnswers || {};
      return {
        name: cfg.name || answers.name || null,
        email: cfg.email || answers.email || null,
        fields: cfg.fields,
        page_url: window.location.href.slice(0, 2000),
      };
    }

    ensureStarted() {
      if (!this.link.started) this.link.start(this.visitorInfo());
    }

    submit() {
      const text = this.input.value;
      if (!text.trim()) return;
      this.input.value = "";
      this.stopTyping();
      this.ensureStarted();
      const frame = { type: "message", client_msg_id: newClientMsgId(), text };
      this.pending(frame);
      this.link.send(frame);
    }

    requestHuman() {
      this.ensureStarted();
      const frame = { type: "request_human", client_msg_id: newClientMsgId() };
      this.pending(frame);
      this.link.send(frame);
    }

    typed() {
      const now = Date.now();
      if (!this.input.value.trim()) {
        this.stopTyping();
      } else if (now - this.lastTyping > TYPING_REPEAT_MS) {
        this.lastTyping = now;
        this.link.volatile({ type: "typing", active: true });
      }
    }

    stopTyping() {
      if (this.lastTyping) this.link.volatile({ type: "typing", active: false });
      this.lastTyping = 0;
    }

    /** A frame of ours not yet acknowledged, shown below the conversation. */
    pending(frame) {
      let text;
      if (frame.type === "message") text = frame.text;
      else if (frame.type === "request_human") text = "Talk to a person";
      else return;
      const line = h(
        "div",
        { className: "hw-line hw-visitor hw-pending", "data-cmid": frame.client_msg_id },
        h("p", { className: "hw-who", text: "You" }),
        h("p", { className: "hw-text", text }),
        h("p", { className: "hw-state", text: "Sending\u2026" }),
      );
      this.outbox.append(line);
      this.scrollDown();
    }

    pendingLine(cmid) {
      return Array.from(this.outbox.children).find((n) => n.dataset.cmid === cmid) || null;
    }

    // -------------------------------------------------------------- receiving

    status(state, delay) {
      const text = {
        connecting: "Connecting\u2026",
        reconnecting: "Reconnecting\u2026",
        offline: "Connection lost; retrying in " + Math.max(1, Math.round((delay || 0) / 1000)) + " s",
        online: "",
      }[state];
      this.connection.textContent = text || "";
      this.panel.dataset.connection = state;
    }

    frame(f) {
      if (f.type === "welcome") {
        if (f.limits) this.input.maxLength = f.limits.max_message_chars;
        this.convStatus = f.status;
        this.showForms();
      } else if (f.type === "event") this.event(f.event);
      else if (f.type === "ack") {
        const line = this.pendingLine(f.client_msg_id);
        if (line) line.querySelector(".hw-state").textContent = "Sent";
      } else if (f.type === "error") this.error(f);
      else if (f.type === "typing") this.agentTyping(f);
      else if (f.type === "wait_estimate") this.wait(f.text);
      else if (f.type === "fallback_offer") this.offer(f);
    }

    error(f) {
      if (f.code === "bad_resume_token") {
        this.outbox.replaceChildren();
        this.system("That conversation has ended. Write again to start a new one.");
        this.showForms();
        return;
      }
      if (!f.client_msg_id && !this.link.conversationId) {
        this.system("The chat could not start: " + f.detail); // e.g. a field the server refused
        return;
      }
      const line = f.client_msg_id ? this.pendingLine(f.client_msg_id) : null;
      if (line) {
        line.classList.add("hw-failed");
        line.querySelector(".hw-state").textContent = "Not sent: " + f.detail;
      } else if (this.fallbackError && f.client_msg_id) {
        this.fallbackError.textContent = f.detail;
      }
    }

    event(ev) {
      const d = ev.data || {};
      switch (ev.kind) {
        case "visitor_message":
          this.visitorLine(ev, d);
          break;
        case "ai_message":
          this.line(ev, "hw-ai", cfg.aiName, markdown(d.text || ""));
          break;
        case "agent_message":
        case "offline_reply":
          this.line(ev, "hw-agent", (d.agent && d.agent.name) || "Agent", this.plain(d.text));
          if (d.notice) this.system(d.notice, ev);
          this.typing.textContent = "";
          break;
        case "escalated":
          this.system(d.text || "Connecting you to a person\u2026", ev, "hw-handoff");
          break;
        case "system_message":
          this.system(d.text, ev);
          break;
        case "claimed":
        case "released":
        case "handed_back":
        case "resolved":
        case "transferred":
        case "requeued":
        case "reopened":
        case "callback_done":
        case "fallback_chosen":
        case "callback_requested":
        case "offline_message":
          if (d.notice) this.system(d.notice, ev);
          break;
        default:
          return; // conversation_started and kinds this version does not know
      }
      const status = STATUS_AFTER[ev.kind];
      if (status) {
        this.convStatus = status;
        this.showForms();
      }
      if (["claimed", "handed_back", "resolved", "reopened"].includes(ev.kind)) this.wait(null);
      if (
        ["claimed", "handed_back", "resolved", "fallback_chosen", "callback_requested", "offline_message"].includes(
          ev.kind,
        )
      ) {
        this.clearOffer();
      }
    }

    visitorLine(ev, d) {
      const line = ev.client_msg_id ? this.pendingLine(ev.client_msg_id) : null;
      if (line) line.remove();
      const text = d.text || (d.request_human ? "Talk to a person" : "");
      this.line(ev, "hw-visitor", "You", this.plain(text));
    }

    plain(text) {
      return h("p", { className: "hw-text", text: text || "" });
    }

    line(ev, cls, who, body) {
      const node = h(
        "div",
        { className: "hw-line " + cls, "data-seq": ev.seq, "data-kind": ev.kind },
        h("p", { className: "hw-who", text: who }),
        body,
      );
      this.append(node, ev.actor !== "visitor");
    }

    system(text, ev, extra) {
      const node = h("p", {
        className: "hw-line hw-system " + (extra || ""),
        "data-seq": ev ? ev.seq : null,
        "data-kind": ev ? ev.kind : null,
        text: text || "",
      });
      this.append(node, true);
    }

    append(node, notify) {
      this.log.append(node);
      if (notify && this.panel.hidden) this.badge.hidden = false;
      this.scrollDown(node);
    }

    /** Scroll to the end, or to the top of ``node`` when it is taller than the view. */
    scrollDown(node) {
      const end = this.scroller.scrollHeight;
      const top = node ? node.offsetTop - 8 : end;
      this.scroller.scrollTop = Math.min(end, top);
      if (!node || node.offsetHeight < this.scroller.clientHeight) {
        this.scroller.scrollTop = end;
      }
    }

    agentTyping(f) {
      if (f.role !== "agent") return;
      window.clearTimeout(this.typingTimer);
      this.typing.textContent = f.active ? (f.name || "Someone") + " is typing\u2026" : "";
      if (f.active) {
        this.typingTimer = window.setTimeout(() => {
          this.typing.textContent = "";
        }, AGENT_TYPING_SHOWN_MS);
      }
    }

    wait(text) {
      this.waitStatus.textContent = text || "";
      this.waitStatus.hidden = !text;
    }

    // -------------------------------------------------------------- fallbacks

    clearOffer() {
      this.fallback.replaceChildren();
      this.fallback.hidden = true;
      this.fallbackError = null;
    }

    offer(f) {
      this.clearOffer();
      const buttons = h("div", { className: "hw-choices" });
      for (const choice of f.choices || []) {
        buttons.append(
          h("button", {
            type: "button",
            className: "hw-choice",
            "data-option": choice.option,
            text: choice.label,
            onclick: () => this.choose(choice.option),
          }),
        );
      }
      this.fallbackError = h("p", { className: "hw-error", role: "alert" });
      this.fallback.append(h("p", { className: "hw-offer", text: f.text || "" }), buttons, this.fallbackError);
      this.fallback.hidden = false;
      this.scrollDown();
    }

    choose(option) {
      if (option === "callback") this.fallbackForm("callback");
      else if (option === "offline_message") this.fallbackForm("offline_message");
      else this.link.send({ type: "choose_fallback", client_msg_id: newClientMsgId(), option });
    }

    fallbackForm(kind) {
      const old = this.fallback.querySelector("form");
      if (old) old.remove();
      const form = h("form", {
        className: "hw-fallback-form",
        "aria-label": kind === "callback" ? "Ask for a call back" : "Leave a message",
      });
      const email = h("input", { name: "email", type: "email", autocomplete: "email", maxlength: 500 });
      email.value = this.visitorInfo().email || "";
      if (kind === "callback") {
        form.append(
          this.field("Phone (international, e.g. +44 20 7946 0000)", h("input", { name: "phone", type: "tel", autocomplete: "tel" })),
          this.field("or email", email),
          this.field("Best time (optional)", h("input", { name: "preferred_at", type: "datetime-local" })),
          this.field("Note (optional)", h("input", { name: "note", maxlength: 500 })),
        );
      } else {
        email.required = true;
        form.append(this.field("Your email", email), this.field("Message for the team", h("textarea", { name: "text", rows: 3, required: true })));
      }
      form.append(h("button", { type: "submit", className: "hw-primary", text: kind === "callback" ? "Call me back" : "Send message" }));
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        this.sendFallbackForm(kind, new FormData(form));
      });
      this.fallback.insertBefore(form, this.fallbackError);
      form.scrollIntoView({ block: "end" });
      form.querySelector("input, textarea").focus();
    }

    sendFallbackForm(kind, data) {
      const value = (key) => (data.get(key) || "").toString().trim() || null;
      const frame = { client_msg_id: newClientMsgId() };
      if (kind === "callback") {
        if (!value("phone") && !value("email")) {
          this.fallbackError.textContent = "Give a phone number or an email address.";
          return;
        }
        const at = value("preferred_at");
        Object.assign(frame, {
          type: "request_callback",
          phone: value("phone"),
          email: value("email"),
          preferred_at: at ? new Date(at).toISOString() : null,
          note: value("note"),
        });
      } else {
        Object.assign(frame, { type: "leave_message", email: value("email"), text: value("text") });
      }
      this.fallbackError.textContent = "";
      this.link.send(frame);
    }
  }

  function boot() {
    const widget = new Widget();
    window.HandoffWidget = {
      open: () => widget.open(),
      close: () => widget.close(),
    };
  }

  window.HandoffWidget = { open() {}, close() {} };
  if (document.body) boot();
  else document.addEventListener("DOMContentLoaded", boot);
})();
