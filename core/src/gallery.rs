//! The Gallery's rules, shared by the edge (which reads them from a request's query) and the app
//! (which keeps them in the page's address): the Library's filters, its page size, the limits of
//! bulk actions and of Collection names.

use crate::tool::{FieldError, Tool};

/// Entries (generations) on one Library page.
pub const PAGE_SIZE: u32 = 48;
/// The most entries one bulk action (delete, add to a Collection, download) takes by id.
pub const MAX_BULK: usize = 500;
/// The most entries one ZIP holds (Select All on a large Library is cut here, and says so).
pub const MAX_ZIP_ENTRIES: u32 = 2000;
/// A Collection's name, in characters.
pub const MAX_COLLECTION_NAME: usize = 80;
/// The longest side of a result's thumbnail (WebP), made once when the result is stored.
pub const THUMB_SIDE: u32 = 384;

/// Which results the Library shows, by the kind of file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Media {
    #[default]
    All,
    Image,
    Video,
}

impl Media {
    pub fn id(self) -> &'static str {
        match self {
            Media::All => "all",
            Media::Image => "image",
            Media::Video => "video",
        }
    }

    /// Whether a generation of `tool` belongs in this view: Image to Video makes videos, every
    /// other tool images.
    pub fn admits(self, tool: Tool) -> bool {
        match self {
            Media::All => true,
            Media::Image => tool != Tool::ImageToVideo,
            Media::Video => tool == Tool::ImageToVideo,
        }
    }
}

/// The Library's filters, combinable: a tool, a kind of file, liked only, one Collection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    pub tool: Option<Tool>,
    pub media: Media,
    pub liked: bool,
    /// A Collection's id: only its entries.
    pub collection: Option<String>,
}

impl Filter {
    /// Reads the filters from query pairs (`tool`, `media`, `liked`, `collection`); other keys
    /// are left to the caller. Every bad value is named with what to send instead.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Filter, Vec<FieldError>> {
        let mut f = Filter::default();
        let mut errors = vec![];
        for (k, v) in pairs {
            match k {
                "tool" if !v.is_empty() => match Tool::from_id(v) {
                    Some(t) => f.tool = Some(t),
                    None => errors.push(FieldError::new(
                        "tool",
                        "unknown_tool",
                        format!(
                            "tool: there is no tool '{v}'; use one of {}.",
                            Tool::ALL.map(|t| t.id()).join(", ")
                        ),
                    )),
                },
                "media" => match v {
                    "" | "all" => f.media = Media::All,
                    "image" => f.media = Media::Image,
                    "video" => f.media = Media::Video,
                    _ => errors.push(FieldError::new(
                        "media",
                        "invalid",
                        format!("media: '{v}' is not a kind of result; use image, video or all."),
                    )),
                },
                "liked" => match v {
                    "" | "0" | "false" => f.liked = false,
                    "1" | "true" => f.liked = true,
                    _ => errors.push(FieldError::new(
                        "liked",
                        "invalid",
                        format!("liked: '{v}' is not a yes or no; use 1 for liked items only, or leave it out."),
                    )),
                },
                "collection" if !v.is_empty() => {
                    if v.len() > 64 || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                        errors.push(FieldError::new(
                            "collection",
                            "invalid",
                            "collection: not a Collection id; use an id from GET /api/collections.",
                        ));
                    } else {
                        f.collection = Some(v.to_string());
                    }
                }
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(f)
        } else {
            Err(errors)
        }
    }

    /// The filters as query pairs, only those set (the Library's address and its API calls).
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = vec![];
        if let Some(t) = self.tool {
            q.push(("tool", t.id().to_string()));
        }
        if self.media != Media::All {
            q.push(("media", self.media.id().to_string()));
        }
        if self.liked {
            q.push(("liked", "1".to_string()));
        }
        if let Some(c) = &self.collection {
            q.push(("collection", c.clone()));
        }
        q
    }

    /// Whether any filter is set (the Library says "no results match" instead of "empty").
    pub fn is_set(&self) -> bool {
        *self != Filter::default()
    }

    /// Whether imported images fit this filter (no tool chosen, images not excluded).
    pub fn includes_imports(&self) -> bool {
        self.tool.is_none() && self.media != Media::Video
    }

    /// The tools whose results this filter can show (the SQL's `tool IN (…)`).
    pub fn tools(&self) -> Vec<Tool> {
        Tool::ALL
            .into_iter()
            .filter(|t| self.tool.is_none_or(|x| x == *t) && self.media.admits(*t))
            .collect()
    }
}

/// The number of pages for `total` entries (at least one, so an empty Library has page 1).
pub fn pages(total: u64) -> u32 {
    (total.div_ceil(PAGE_SIZE as u64)).max(1) as u32
}

/// A Collection's name, trimmed, or why it cannot be one.
pub fn collection_name(raw: &str) -> Result<String, FieldError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_COLLECTION_NAME {
        return Err(FieldError::new(
            "name",
            "invalid",
            format!("name: give the Collection a name of 1 to {MAX_COLLECTION_NAME} characters."),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(
            "name",
            "invalid",
            "name: a Collection's name is one line of text, without control characters.",
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_combine_and_round_trip_through_the_address() {
        let f = Filter::parse([
            ("tool", "upscale"),
            ("liked", "1"),
            ("media", "image"),
            ("page", "3"),
        ])
        .unwrap();
        assert_eq!(f.tool, Some(Tool::Upscale));
        assert!(f.liked);
        assert_eq!(f.media, Media::Image);
        let q = f.query();
        let back = Filter::parse(q.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
        assert_eq!(back, f);
        assert!(f.is_set());
        assert!(!Filter::default().is_set());
    }

    #[test]
    fn bad_filters_name_the_field() {
        let e = Filter::parse([
            ("tool", "sharpen"),
            ("media", "gif"),
            ("liked", "maybe"),
            ("collection", "a b"),
        ])
        .unwrap_err();
        let fields: Vec<_> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(fields, ["tool", "media", "liked", "collection"]);
        assert!(e[0].message.contains("upscale"));
    }

    #[test]
    fn media_picks_tools() {
        let videos = Filter {
            media: Media::Video,
            ..Default::default()
        }
        .tools();
        assert_eq!(videos, vec![Tool::ImageToVideo]);
        let images = Filter {
            media: Media::Image,
            ..Default::default()
        }
        .tools();
        assert!(!images.contains(&Tool::ImageToVideo));
        assert_eq!(images.len(), Tool::ALL.len() - 1);
        assert!(Filter {
            media: Media::Image,
            ..Default::default()
        }
        .includes_imports());
        assert!(!Filter {
            media: Media::Video,
            ..Default::default()
        }
        .includes_imports());
        assert!(!Filter {
            tool: Some(Tool::Upscale),
            ..Default::default()
        }
        .includes_imports());
        // A video tool with the image filter shows nothing.
        let none = Filter {
            media: Media::Image,
            tool: Some(Tool::ImageToVideo),
            ..Default::default()
        };
        assert!(none.tools().is_empty());
    }

    #[test]
    fn pages_and_names() {
        assert_eq!(pages(0), 1);
        assert_eq!(pages(48), 1);
        assert_eq!(pages(49), 2);
        assert_eq!(collection_name("  Summer  ").unwrap(), "Summer");
        assert!(collection_name("   ").is_err());
        assert!(collection_name(&"x".repeat(81)).is_err());
        assert!(collection_name("a\nb").is_err());
    }
}
