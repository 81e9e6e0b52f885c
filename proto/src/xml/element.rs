//! An owned XML element tree with resolved namespaces: what the stream reader produces for each
//! stanza and what the typed stanza modules read and build.
//!
//! Namespaces are resolved (each element carries its namespace URI, never a prefix), so
//! `<db:result xmlns:db='jabber:server:dialback'>` and `<result xmlns='jabber:server:dialback'>`
//! are the same `Element`. Attributes are unqualified except `xml:lang`-style ones, which keep
//! their `prefix:name` spelling.

use std::fmt;

/// A child of an element: another element or character data (already unescaped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data, entities already resolved.
    Text(String),
}

/// An XML element with its namespace resolved.
#[derive(Clone, PartialEq, Eq)]
pub struct Element {
    name: String,
    ns: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
}

impl Element {
    /// An empty element `name` in namespace `ns`.
    pub fn new(name: impl Into<String>, ns: impl Into<String>) -> Self {
        Element { name: name.into(), ns: ns.into(), attrs: Vec::new(), children: Vec::new() }
    }

    /// An element straight from the parser, whose attribute names are already known distinct.
    pub(super) fn from_parsed(name: &str, ns: String, attrs: Vec<(String, String)>) -> Self {
        Element { name: name.to_owned(), ns, attrs, children: Vec::new() }
    }

    /// Builder-style: set an attribute.
    #[must_use]
    pub fn with_attr(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_attr(name, value);
        self
    }

    /// Builder-style: set an attribute when `value` is `Some`.
    #[must_use]
    pub fn with_opt_attr<V: Into<String>>(self, name: impl Into<String>, value: Option<V>) -> Self {
        match value {
            Some(v) => self.with_attr(name, v),
            None => self,
        }
    }

    /// Builder-style: append a child element.
    #[must_use]
    pub fn with_child(mut self, child: Element) -> Self {
        self.children.push(Node::Element(child));
        self
    }

    /// Builder-style: append children.
    #[must_use]
    pub fn with_children(mut self, children: impl IntoIterator<Item = Element>) -> Self {
        self.children.extend(children.into_iter().map(Node::Element));
        self
    }

    /// Builder-style: append character data.
    #[must_use]
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.append_text(text);
        self
    }

    /// The local name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace URI.
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// Whether this element is `name` in `ns`.
    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.name == name && self.ns == ns
    }

    /// An attribute's value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// All attributes in document order.
    pub fn attrs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attrs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Set (or replace) an attribute.
    pub fn set_attr(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.attrs.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((name, value)),
        }
    }

    /// Remove an attribute, returning its value.
    pub fn remove_attr(&mut self, name: &str) -> Option<String> {
        let pos = self.attrs.iter().position(|(k, _)| k == name)?;
        Some(self.attrs.remove(pos).1)
    }

    /// Child nodes (elements and text) in document order.
    pub fn nodes(&self) -> &[Node] {
        &self.children
    }

    /// Child elements in document order.
    pub fn children(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// Consume the element, yielding its child elements.
    pub fn into_children(self) -> impl Iterator<Item = Element> {
        self.children.into_iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child element `name` in `ns`.
    pub fn child(&self, name: &str, ns: &str) -> Option<&Element> {
        self.children().find(|c| c.is(name, ns))
    }

    /// The first child element in `ns`, whatever its name.
    pub fn child_ns(&self, ns: &str) -> Option<&Element> {
        self.children().find(|c| c.ns == ns)
    }

    /// Take the first child element `name` in `ns` out of this element.
    pub fn take_child(&mut self, name: &str, ns: &str) -> Option<Element> {
        let pos = self.children.iter().position(|n| matches!(n, Node::Element(e) if e.is(name, ns)))?;
        match self.children.remove(pos) {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        }
    }

    /// Append a child element.
    pub fn append_child(&mut self, child: Element) {
        self.children.push(Node::Element(child));
    }

    /// Append character data (merged with a preceding text node).
    pub fn append_text(&mut self, text: impl Into<String>) {
        let text = text.into();
        if text.is_empty() {
            return;
        }
        if let Some(Node::Text(prev)) = self.children.last_mut() {
            prev.push_str(&text);
        } else {
            self.children.push(Node::Text(text));
        }
    }

    /// The concatenated character data directly inside this element.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                out.push_str(t);
            }
        }
        out
    }

    /// Whether the element has neither children nor text.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// Serialize as a standalone XML fragment (declares its own default namespace).
    pub fn to_xml(&self) -> String {
        let mut out = Vec::new();
        super::write::write_fragment(self, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl fmt::Debug for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_xml())
    }
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_xml())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_and_accessors() {
        let e = Element::new("iq", "jabber:server")
            .with_attr("type", "get")
            .with_attr("type", "set")
            .with_child(Element::new("ping", "urn:xmpp:ping"))
            .with_text("a")
            .with_text("b");
        assert_eq!(e.attr("type"), Some("set"));
        assert_eq!(e.attrs().count(), 1);
        assert!(e.child("ping", "urn:xmpp:ping").is_some());
        assert!(e.child("ping", "jabber:server").is_none());
        assert_eq!(e.text(), "ab");
        assert_eq!(e.nodes().len(), 2);
    }

    #[test]
    fn take_child_removes_it() {
        let mut e = Element::new("a", "x").with_child(Element::new("b", "y"));
        assert!(e.take_child("b", "y").is_some());
        assert!(e.is_empty());
    }
}
