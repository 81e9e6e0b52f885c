//! Search over the registry with filters and a cursor, and its result page.
//!
//! ```xml
//! <search xmlns='https://ns.icroot.dev/registry/0' kind='exchange' capability='compute'
//!         region='eu-west' prefix='ex-' limit='50' after='exchange:ex-a.example' consistency='stale'/>
//! <results xmlns='https://ns.icroot.dev/registry/0' revision='42' next='exchange:ex-b.example'>
//!   <exchange …/> <cloud …/>
//! </results>
//! ```

use super::bounds::{self, *};
use super::{CloudRecord, Consistency, ExchangeRecord, RecordKind, RegistryError};
use crate::ns;
use crate::stanza::{parse_attr, parse_opt_attr, ParseError};
use crate::xml::Element;

/// A search: every filter given must match (AND). Results are ordered by key (Exchanges by
/// domain, then Clouds by id when both kinds are searched).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Search {
    /// Only this kind; `None` searches both.
    pub kind: Option<RecordKind>,
    /// An Exchange capability, or a Cloud service (≤ [`MAX_CAPABILITY_BYTES`]).
    pub capability: Option<String>,
    /// A region the record lists (≤ [`MAX_REGION_BYTES`]).
    pub region: Option<String>,
    /// Key prefix: domain or cloud id (≤ [`MAX_DOMAIN_BYTES`]).
    pub prefix: Option<String>,
    /// Page size, 1..=[`SEARCH_LIMIT_MAX`], default [`SEARCH_LIMIT_DEFAULT`].
    pub limit: u32,
    /// Resume after this cursor (a previous page's `next`, ≤ [`MAX_CURSOR_BYTES`]).
    pub after: Option<String>,
    /// Linearizable (default) or stale.
    pub consistency: Consistency,
}

impl Search {
    /// The element name on the wire.
    pub const NAME: &'static str = "search";

    /// The payload element.
    pub fn to_element(&self) -> Element {
        Element::new(Self::NAME, ns::REGISTRY)
            .with_opt_attr("kind", self.kind.map(RecordKind::as_str))
            .with_opt_attr("capability", self.capability.clone())
            .with_opt_attr("region", self.region.clone())
            .with_opt_attr("prefix", self.prefix.clone())
            .with_attr("limit", self.limit.to_string())
            .with_opt_attr("after", self.after.clone())
            .with_opt_attr("consistency", self.consistency.as_attr())
    }
}

fn opt_text(el: &Element, attr: &'static str, max: usize) -> Result<Option<String>, RegistryError> {
    el.attr(attr).map(|v| check_text(attr, v, max).map(|()| v.to_owned())).transpose()
}

impl TryFrom<&Element> for Search {
    type Error = RegistryError;

    fn try_from(el: &Element) -> Result<Self, RegistryError> {
        crate::stanza::expect_element(el, Self::NAME, ns::REGISTRY)?;
        let kind = match el.attr("kind") {
            None => None,
            Some(k) => Some(RecordKind::parse(k).ok_or_else(|| ParseError::InvalidAttr {
                element: Self::NAME,
                attr: "kind",
                value: k.to_owned(),
            })?),
        };
        let limit = parse_opt_attr(el, Self::NAME, "limit")?.unwrap_or(SEARCH_LIMIT_DEFAULT);
        if !(1..=SEARCH_LIMIT_MAX).contains(&limit) {
            return Err(bounds::invalid("limit", format!("{limit} is outside 1..={SEARCH_LIMIT_MAX}")));
        }
        Ok(Search {
            kind,
            capability: opt_text(el, "capability", MAX_CAPABILITY_BYTES)?,
            region: opt_text(el, "region", MAX_REGION_BYTES)?,
            prefix: opt_text(el, "prefix", MAX_DOMAIN_BYTES)?,
            limit,
            after: opt_text(el, "after", MAX_CURSOR_BYTES)?,
            consistency: Consistency::read(el, Self::NAME)?,
        })
    }
}

/// One record in a result page.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SearchHit {
    /// An Exchange.
    Exchange(ExchangeRecord),
    /// A Cloud.
    Cloud(CloudRecord),
}

impl SearchHit {
    /// The record element.
    pub fn to_element(&self) -> Element {
        match self {
            SearchHit::Exchange(r) => r.to_element(),
            SearchHit::Cloud(r) => r.to_element(),
        }
    }
}

/// A page of search results.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SearchResults {
    /// The registry revision the page was read at (watch from here to follow changes).
    pub revision: u64,
    /// The matching records, in key order.
    pub hits: Vec<SearchHit>,
    /// Cursor for the next page; `None` when this is the last.
    pub next: Option<String>,
}

impl SearchResults {
    /// The element name on the wire.
    pub const NAME: &'static str = "results";

    /// The result element.
    pub fn to_element(&self) -> Element {
        Element::new(Self::NAME, ns::REGISTRY)
            .with_attr("revision", self.revision.to_string())
            .with_opt_attr("next", self.next.clone())
            .with_children(self.hits.iter().map(SearchHit::to_element))
    }
}

impl TryFrom<&Element> for SearchResults {
    type Error = RegistryError;

    fn try_from(el: &Element) -> Result<Self, RegistryError> {
        crate::stanza::expect_element(el, Self::NAME, ns::REGISTRY)?;
        let mut hits = Vec::new();
        for c in el.children().filter(|c| c.ns() == ns::REGISTRY) {
            hits.push(match c.name() {
                "exchange" => SearchHit::Exchange(ExchangeRecord::try_from(c)?),
                "cloud" => SearchHit::Cloud(CloudRecord::try_from(c)?),
                other => {
                    return Err(RegistryError::Malformed {
                        detail: format!("<results/> cannot hold <{other}/>"),
                    })
                }
            });
        }
        let next = opt_text(el, "next", MAX_CURSOR_BYTES)?;
        Ok(SearchResults { revision: parse_attr(el, Self::NAME, "revision")?, hits, next })
    }
}
