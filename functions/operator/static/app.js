// Keyboard shortcuts for a fast morning pass, and confirmation for dangerous forms.
// No inline handlers (the Content-Security-Policy forbids them); all content is the server's.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });
  function typing(target) {
    return /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName) || target.isContentEditable;
  }
  document.addEventListener("keydown", function (event) {
    if (typing(event.target) || event.metaKey || event.ctrlKey || event.altKey) { return; }
    var rows = Array.prototype.slice.call(document.querySelectorAll("[data-keys=list] tr[data-href]"));
    if (rows.length) {
      var index = rows.indexOf(document.activeElement);
      if (event.key === "j" || event.key === "k") {
        var next = event.key === "j" ? Math.min(index + 1, rows.length - 1) : Math.max(index - 1, 0);
        rows[index < 0 ? 0 : next].focus();
        event.preventDefault();
      } else if (event.key === "Enter" && index >= 0) {
        window.location.href = rows[index].getAttribute("data-href");
      }
      return;
    }
    var target = document.querySelector("[data-key='" + event.key + "']");
    if (!target) { return; }
    event.preventDefault();
    if (target.tagName === "BUTTON") { target.click(); }
    else if (target.tagName === "DETAILS") { target.open = true; var field = target.querySelector("textarea"); if (field) { field.focus(); } }
    else { target.focus(); }
  });
  // Drag-and-drop upload: each file is sent on its own, with its progress shown.
  var form = document.querySelector("form[data-upload]");
  if (form) {
    var zone = form.querySelector("[data-dropzone]");
    var list = form.querySelector("[data-progress]");
    var csrf = form.querySelector("input[name=csrf]").value;
    function send(file) {
      var item = document.createElement("li");
      item.textContent = file.name + ": 0%";
      list.appendChild(item);
      var body = new FormData();
      body.append("file", file);
      body.append("csrf", csrf);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("action"));
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) { item.textContent = file.name + ": " + Math.round(100 * e.loaded / e.total) + "%"; }
      };
      xhr.onload = function () {
        item.textContent = file.name + (xhr.status < 300 ? ": received, extracting…" : ": refused (" + xhr.status + ")");
        item.setAttribute("data-done", xhr.status < 300 ? "ok" : "error");
      };
      xhr.send(body);
    }
    zone.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      zone.classList.remove("over");
      Array.prototype.forEach.call(e.dataTransfer.files, send);
    });
  }
  // --- campaigns ----------------------------------------------------------------------
  // Everything shown from an answer goes in with textContent: HubSpot values are untrusted.
  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (className) { node.className = className; }
    return node;
  }
  function table(headings, rows) {
    var t = el("table"), head = el("thead"), line = el("tr"), body = el("tbody");
    headings.forEach(function (h) { line.appendChild(el("th", h)); });
    head.appendChild(line);
    rows.forEach(function (cells) {
      var row = el("tr");
      cells.forEach(function (c) { row.appendChild(el("td", c)); });
      body.appendChild(row);
    });
    t.appendChild(head);
    t.appendChild(body);
    return t;
  }
  function who(p) { return (p.name ? p.name + " " : "") + "<" + (p.email || "no email") + ">"; }

  // The new-campaign form as the API's JSON spec: the same as the server's _campaign_spec.
  function specOf(form) {
    function text(name) {
      var field = form.elements.namedItem(name);
      return field && field.value ? String(field.value).trim() : "";
    }
    var filters = [];
    for (var i = 0; form.elements.namedItem("f" + i + "_property"); i++) {
      var name = text("f" + i + "_property");
      if (!name) { continue; }
      var operator = text("f" + i + "_operator") || "EQ";
      var rule = { object: text("f" + i + "_object") || "contact", property: name, operator: operator };
      var value = text("f" + i + "_value");
      if (operator === "IN" || operator === "NOT_IN") {
        rule.values = value.split(",").map(function (v) { return v.trim(); }).filter(Boolean);
      } else if (operator !== "HAS_PROPERTY" && operator !== "NOT_HAS_PROPERTY") {
        rule.value = value;
      }
      filters.push(rule);
    }
    var owner = { kind: text("owner_kind") || "contact_owner" };
    if (owner.kind === "rep") { owner.rep_email = text("owner_rep_email") || null; }
    var days = Array.prototype.map.call(
      form.querySelectorAll("input[name=days]:checked"), function (box) { return box.value; });
    return {
      id: text("id"),
      name: text("name"),
      story: {
        title: text("story_title"),
        brief: text("story_brief"),
        asset_ids: text("story_asset_ids").split(/[\s,]+/).filter(Boolean)
      },
      segment: { list_id: text("segment_list_id") || null, filters: filters },
      owner_rule: owner,
      limits: { per_minute: text("per_minute"), per_day: text("per_day"), per_company: text("per_company") },
      schedule: {
        days: days, start_hour: text("start_hour"), end_hour: text("end_hour"), time_zone: text("time_zone")
      },
      compliance: {
        opt_out_line: text("opt_out_line"),
        postal_address: text("postal_address") || null,
        subscription_type_id: text("subscription_type_id") || null,
        consent_basis: text("consent_basis") || "legitimate_interest"
      }
    };
  }
  function showPreview(section, answer) {
    var body = section.querySelector("[data-preview-body]");
    body.textContent = "";
    var count = el("p", null, "count");
    var strong = el("strong", answer.count);
    strong.setAttribute("data-preview-count", "");
    count.appendChild(strong);
    count.appendChild(document.createTextNode(
      " contact(s) would get a draft · " + answer.excluded_count + " left out"));
    body.appendChild(count);
    var reasons = Object.keys(answer.excluded_by_reason || {});
    if (reasons.length) {
      body.appendChild(el("h3", "Left out, by reason"));
      var list = el("ul", null, "reasons");
      reasons.forEach(function (code) {
        var item = el("li");
        item.appendChild(el("b", code));
        item.appendChild(document.createTextNode(": " + answer.excluded_by_reason[code]));
        list.appendChild(item);
      });
      body.appendChild(list);
    }
    var included = answer.included || [], excluded = answer.excluded || [];
    body.appendChild(el("h3", "In, and why" +
      (answer.count > included.length ? " (the first " + included.length + ")" : "")));
    body.appendChild(included.length
      ? table(["contact", "company", "owner", "why in"], included.map(function (p) {
        return [who(p), p.company || "", p.owner_email || "", (p.why_in || []).join("; ")];
      }))
      : el("p", "Nobody: the segment is empty or everyone is left out."));
    if (excluded.length) {
      body.appendChild(el("h3", "Left out, and why" +
        (answer.excluded_count > excluded.length ? " (the first " + excluded.length + ")" : "")));
      body.appendChild(table(["contact", "company", "reason", "why not"], excluded.map(function (p) {
        return [who(p), p.company || "", p.reason, p.why_not];
      })));
    }
    section.hidden = false;
  }
  var campaignForm = document.querySelector("form[data-campaign-form]");
  if (campaignForm) {
    campaignForm.addEventListener("change", function (event) {
      var target = event.target;
      if (!target.hasAttribute("data-filter-object")) { return; }
      var row = target.closest("[data-filter-row]");
      row.querySelector("[data-filter-property]").setAttribute("list", target.value + "-properties");
    });
    campaignForm.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      if (!submitter || submitter.value !== "preview") { return; }
      event.preventDefault();
      var section = document.querySelector("[data-preview]");
      var status = campaignForm.querySelector("[data-preview-status]");
      var csrf = campaignForm.querySelector("input[name=csrf]").value;
      status.textContent = "Reading the segment from HubSpot…";
      submitter.disabled = true;
      fetch("/api/campaigns/preview", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(specOf(campaignForm))
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (answer) {
          if (!response.ok) { throw new Error(answer.error || "preview failed (" + response.status + ")"); }
          showPreview(section, answer);
          status.textContent = answer.count + " contact(s) in";
        });
      }).catch(function (error) {
        var body = section.querySelector("[data-preview-body]");
        body.textContent = "";
        var shown = el("p", error.message, "error");
        shown.setAttribute("role", "alert");
        body.appendChild(shown);
        section.hidden = false;
        status.textContent = "";
      }).then(function () { submitter.disabled = false; });
    });
  }

  // A campaign's page: drafts opened are ticked as read (and remembered in this browser).
  var approve = document.querySelector("form[data-approve]");
  if (approve) {
    var key = "sa-read:" + approve.getAttribute("data-approve");
    var read = {};
    try { read = JSON.parse(window.localStorage.getItem(key) || "{}") || {}; } catch (e) { read = {}; }
    var save = function () {
      try { window.localStorage.setItem(key, JSON.stringify(read)); } catch (e) { /* private mode */ }
    };
    var boxes = approve.querySelectorAll("input[name=sampled]");
    Array.prototype.forEach.call(boxes, function (box) {
      if (read[box.value]) { box.checked = true; }
      box.addEventListener("change", function () {
        if (box.checked) { read[box.value] = true; } else { delete read[box.value]; }
        save();
      });
    });
    approve.addEventListener("click", function (event) {
      var link = event.target.closest("[data-read-link]");
      if (!link) { return; }
      var id = link.getAttribute("data-read-link");
      read[id] = true;
      save();
      Array.prototype.forEach.call(boxes, function (box) { if (box.value === id) { box.checked = true; } });
    });
  }
  // ... and its progress refreshes itself while it runs.
  var live = document.querySelector("[data-poll]");
  if (live) {
    var drafted = live.getAttribute("data-drafted");
    var stateShown = document.querySelector("[data-state]");
    var firstState = stateShown ? stateShown.textContent : "";
    var poll = function () {
      fetch(live.getAttribute("data-poll"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (campaign) {
          if (!campaign) { window.setTimeout(poll, 5000); return; }
          var progress = campaign.progress || {};
          Array.prototype.forEach.call(live.querySelectorAll("[data-progress]"), function (field) {
            var value = field.getAttribute("data-progress").split(".").reduce(function (at, part) {
              return at && typeof at === "object" ? at[part] : undefined;
            }, progress);
            field.textContent = String(value || 0);
          });
          var workflows = progress.workflows || {};
          var changedState = campaign.state !== firstState;
          if (stateShown) { stateShown.textContent = campaign.state; }
          if (changedState && !(approve && approve.querySelector("input[name=sampled]:checked"))) {
            window.location.replace("/campaigns/" + encodeURIComponent(campaign.id));  // its new buttons
            return;
          }
          if (changedState || String(workflows.drafted || 0) !== drafted) {
            live.querySelector("[data-poll-note]").hidden = false;
          }
          if (campaign.state === "running" || (workflows.drafting || 0) > 0) { window.setTimeout(poll, 3000); }
        })
        .catch(function () { window.setTimeout(poll, 5000); });
    };
    window.setTimeout(poll, 3000);
  }
})();
