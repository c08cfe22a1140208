// leadrelay console: the condition builder of the configuration pages. Each textarea.cond-source holds a
// condition as YAML (the page works without this script); here it becomes a tree of all / any / not groups
// and {field, op, value} leaves, and every change writes the condition back into it as JSON (JSON is YAML).
(function () {
  "use strict";
  var OPS = ["eq", "ne", "in", "not_in", "starts_with", "ends_with", "contains", "regex",
             "gt", "gte", "lt", "lte", "between", "exists", "empty"];
  var KINDS = [["leaf", "a field test"], ["all", "all of"], ["any", "any of"], ["not", "not"]];
  var LISTS = { "in": 1, "not_in": 1, "between": 1 };
  var counter = 0;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }
  function labelled(text, control) {
    var id = "cb-" + (++counter);
    control.id = id;
    return el("span", { "class": "cb-part" }, [el("label", { "for": id, text: text }), control]);
  }
  function select(options, value) {
    var s = el("select");
    options.forEach(function (o) {
      var pair = Array.isArray(o) ? o : [o, o];
      var opt = el("option", { value: pair[0], text: pair[1] });
      if (pair[0] === value) { opt.selected = true; }
      s.appendChild(opt);
    });
    return s;
  }
  function kindOf(node) {
    if (node && node.all) { return "all"; }
    if (node && node.any) { return "any"; }
    if (node && node.not) { return "not"; }
    return "leaf";
  }
  function scalar(text) {
    var t = text.trim();
    if (/^-?\d+(\.\d+)?$/.test(t)) { return Number(t); }
    if (t === "true") { return true; }
    if (t === "false") { return false; }
    return t;
  }
  function shownValue(value) {
    if (value === undefined || value === null) { return ""; }
    return Array.isArray(value) ? value.join(", ") : String(value);
  }
  function blankLeaf() { return { field: "", op: "eq", value: "" }; }

  // one node of the tree: its editor, and read() giving its condition back
  function build(node, onChange, onRemove) {
    var box = el("div", { "class": "cb-node", role: "group" });
    var kind = select(KINDS, kindOf(node));
    var head = el("div", { "class": "cb-head" }, [labelled("Condition", kind)]);
    if (onRemove) {
      var remove = el("button", { type: "button", "class": "cb-remove", text: "Remove" });
      remove.addEventListener("click", onRemove);
      head.appendChild(remove);
    }
    box.appendChild(head);
    var body = el("div", { "class": "cb-body" });
    box.appendChild(body);
    var read = function () { return null; };

    function render(current) {
      body.innerHTML = "";
      var k = kindOf(current);
      if (k === "leaf") {
        var field = el("input", { type: "text", value: current.field || "", size: "12" });
        var op = select(OPS, current.op || "eq");
        var value = el("input", { type: "text", value: shownValue(current.value), size: "16" });
        var cs = el("input", { type: "checkbox" });
        cs.checked = current.case_sensitive === true;
        var hint = el("span", { "class": "hint" });
        var showHint = function () {
          hint.textContent = LISTS[op.value] ? (op.value === "between" ? "low, high" : "comma separated")
            : (op.value === "exists" || op.value === "empty") ? "no value needed" : "";
        };
        showHint();
        op.addEventListener("change", showHint);
        body.appendChild(el("div", { "class": "cb-leaf" }, [
          labelled("Field", field), labelled("Operator", op), labelled("Value", value), hint,
          el("span", { "class": "cb-part" }, [el("label", {}, [cs, document.createTextNode(" case sensitive")])])
        ]));
        read = function () {
          var out = { field: field.value.trim(), op: op.value };
          var text = value.value;
          if (op.value === "exists" || op.value === "empty") {
            if (text.trim() === "false") { out.value = false; }
          } else if (LISTS[op.value]) {
            out.value = text.split(",").map(scalar).filter(function (v) { return v !== ""; });
          } else if (op.value === "regex" || op.value === "starts_with" || op.value === "ends_with" ||
                     op.value === "contains") {
            out.value = text;
          } else {
            out.value = scalar(text);
          }
          if (cs.checked) { out.case_sensitive = true; }
          return out;
        };
      } else if (k === "not") {
        var inner = build(current.not, onChange, null);
        body.appendChild(inner.box);
        read = function () { return { not: inner.read() }; };
      } else {
        var items = (current[k] || []).slice();
        var children = [];
        var list = el("div", { "class": "cb-children" });
        var add = el("button", { type: "button", "class": "cb-add", text: "+ Add a condition" });
        var addChild = function (child) {
          var entry = build(child, onChange, function () {
            children.splice(children.indexOf(entry), 1);
            list.removeChild(entry.box);
            onChange();
          });
          children.push(entry);
          list.appendChild(entry.box);
        };
        items.forEach(addChild);
        add.addEventListener("click", function () { addChild(blankLeaf()); onChange(); });
        body.appendChild(list);
        body.appendChild(add);
        read = function () {
          var out = {};
          out[k] = children.map(function (c) { return c.read(); });
          return out;
        };
      }
    }
    kind.addEventListener("change", function () {
      var before = read();
      var k = kind.value;
      var next;
      if (k === "leaf") { next = kindOf(before) === "leaf" ? before : blankLeaf(); }
      else if (k === "not") { next = { not: before || blankLeaf() }; }
      else { next = {}; next[k] = [before || blankLeaf()]; }
      render(next);
      onChange();
    });
    render(node || blankLeaf());
    return { box: box, read: function () { return read(); } };
  }

  function attach(source) {
    var text = source.getAttribute("data-condition");
    var tree = null;
    if (text) {
      try { tree = JSON.parse(text); } catch (e) { return; }
    } else if (source.value.trim()) {
      return; // a condition that did not parse: leave the text to be fixed by hand
    }
    var wrap = el("div", { "class": "cb" });
    var optional = source.getAttribute("data-optional") === "1";
    var root = null;
    var starter = el("button", { type: "button", "class": "cb-add", text: "+ Add a condition" });
    var note = el("p", { "class": "hint", role: "status" });
    var write = function () { if (source.hidden) { source.value = root ? JSON.stringify(root.read()) : ""; } };
    var start = function (node) {
      if (starter.parentNode) { wrap.removeChild(starter); }
      root = build(node, write, optional ? function () {
        wrap.removeChild(root.box); root = null; write(); wrap.appendChild(starter);
      } : null);
      wrap.insertBefore(root.box, wrap.firstChild);
    };
    var rebuild = function (node) {
      if (root) { wrap.removeChild(root.box); root = null; }
      if (node || !optional) { start(node || blankLeaf()); } else { wrap.appendChild(starter); }
    };
    starter.addEventListener("click", function () { start(blankLeaf()); write(); });
    wrap.addEventListener("input", write);
    wrap.addEventListener("change", write);
    rebuild(tree);
    var toggle = el("button", { type: "button", "class": "cb-toggle", text: "Edit as text" });
    toggle.addEventListener("click", function () {
      note.textContent = "";
      if (source.hidden) {  // to the text: what the builder holds
        write();
        source.hidden = false;
        wrap.hidden = true;
        toggle.textContent = "Back to the builder";
        source.focus();
        return;
      }
      var typed = source.value.trim();
      var node = null;
      if (typed) {
        try { node = JSON.parse(typed); } catch (e) {
          note.textContent = "The builder reads JSON; this text (YAML) is sent as it is.";
          return;
        }
      }
      rebuild(node);
      source.hidden = true;
      wrap.hidden = false;
      toggle.textContent = "Edit as text";
      write();
    });
    source.hidden = true;
    source.parentNode.insertBefore(wrap, source.nextSibling);
    source.parentNode.insertBefore(toggle, wrap.nextSibling);
    source.parentNode.insertBefore(note, toggle.nextSibling);
    if (tree) { write(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("textarea.cond-source"), attach);
  });
})();
