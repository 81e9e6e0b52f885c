//! The Cloud record: a cloud offered behind an Exchange, writable only by its owner.
//!
//! ```xml
//! <cloud xmlns='https://ns.icroot.dev/registry/0' id='ex-a/eu-compute' owner='ex-a.example'
//!        created-revision='6' modified-revision='6'>
//!   <service>compute</service><region>eu-west</region><meta key='sla'>99.9</meta>
//! </cloud>
//! ```

use std::collections::BTreeMap;

use super::bounds::{self, *};
use super::RegistryError;
use crate::ns;
use crate::stanza::{parse_attr, required_attr};
use crate::xml::Element;

const SPEC_CHILDREN: &[&str] = &["service", "region", "meta"];

/// The fields a Cloud's owner writes (register/update replace all of them).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CloudSpec {
    /// Services offered (`compute`, `storage`, `network`, … free strings): ≤ [`MAX_SERVICES`],
    /// each ≤ [`MAX_SERVICE_BYTES`].
    pub services: Vec<String>,
    /// Regions: ≤ [`MAX_REGIONS`], each ≤ [`MAX_REGION_BYTES`].
    pub regions: Vec<String>,
    /// Free key/value metadata: ≤ [`MAX_META_KEYS`] keys.
    pub metadata: BTreeMap<String, String>,
}

impl CloudSpec {
    /// Check every bound (parsing does this; call it on specs built in code).
    pub fn validate(&self) -> Result<(), RegistryError> {
        check_list("service", &self.services, MAX_SERVICES, MAX_SERVICE_BYTES)?;
        check_list("region", &self.regions, MAX_REGIONS, MAX_REGION_BYTES)?;
        check_meta(&self.metadata)?;
        let size = self.content_bytes();
        if size > MAX_RECORD_BYTES {
            return Err(bounds::invalid("record", format!("{size} bytes, at most {MAX_RECORD_BYTES}")));
        }
        Ok(())
    }

    /// The bytes of all strings in the spec (what [`MAX_RECORD_BYTES`] bounds).
    pub fn content_bytes(&self) -> usize {
        self.services.iter().chain(&self.regions).map(String::len).sum::<usize>()
            + self.metadata.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
    }

    /// Read the spec's children from `el` (a request or a record), validated.
    pub(crate) fn read(el: &Element) -> Result<Self, RegistryError> {
        bounds::reject_unknown_children(el, SPEC_CHILDREN)?;
        let spec = CloudSpec {
            services: texts(el, "service"),
            regions: texts(el, "region"),
            metadata: read_meta(el)?,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Write the spec's children onto `el`.
    pub(crate) fn write(&self, mut el: Element) -> Element {
        write_texts(&mut el, "service", &self.services);
        write_texts(&mut el, "region", &self.regions);
        write_meta(&mut el, &self.metadata);
        el
    }
}

/// A stored Cloud as the root returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudRecord {
    /// Registry-wide unique id (see [`MAX_CLOUD_ID_BYTES`] for the alphabet).
    pub id: String,
    /// The owning Exchange's domain.
    pub owner: String,
    /// The fields the owner wrote.
    pub spec: CloudSpec,
    /// The registry revision that created the record.
    pub created_revision: u64,
    /// The registry revision of the last change (what compare-and-set compares).
    pub modified_revision: u64,
}

impl CloudRecord {
    /// The `<cloud/>` element.
    pub fn to_element(&self) -> Element {
        let el = Element::new("cloud", ns::REGISTRY)
            .with_attr("id", self.id.clone())
            .with_attr("owner", self.owner.clone())
            .with_attr("created-revision", self.created_revision.to_string())
            .with_attr("modified-revision", self.modified_revision.to_string());
        self.spec.write(el)
    }

    /// Check every bound.
    pub fn validate(&self) -> Result<(), RegistryError> {
        check_cloud_id(&self.id)?;
        if normalize_domain("owner", &self.owner)? != self.owner {
            return Err(bounds::invalid("owner", "must be lowercase without a trailing dot"));
        }
        self.spec.validate()
    }
}

impl TryFrom<&Element> for CloudRecord {
    type Error = RegistryError;

    fn try_from(el: &Element) -> Result<Self, RegistryError> {
        crate::stanza::expect_element(el, "cloud", ns::REGISTRY)?;
        let id = required_attr(el, "cloud", "id")?.to_owned();
        check_cloud_id(&id)?;
        Ok(CloudRecord {
            id,
            owner: normalize_domain("owner", required_attr(el, "cloud", "owner")?)?,
            spec: CloudSpec::read(el)?,
            created_revision: parse_attr(el, "cloud", "created-revision")?,
            modified_revision: parse_attr(el, "cloud", "modified-revision")?,
        })
    }
}
