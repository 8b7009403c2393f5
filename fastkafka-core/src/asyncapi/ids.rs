//! Ids that the AsyncAPI key pattern accepts, distinct within a document.

/// `s` with every character the AsyncAPI id pattern `^[A-Za-z0-9_\-]+$` rejects made `_`.
pub fn sanitize_id(s: &str) -> String {
    let id: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() {
        "_".into()
    } else {
        id
    }
}

/// Hands out distinct ids: a second `a.b` (or an `a_b` after `a.b`) gets `a_b_2`.
#[derive(Default)]
pub(super) struct Ids {
    pub(super) used: std::collections::BTreeSet<String>,
}

impl Ids {
    pub(super) fn fresh(&mut self, name: &str) -> String {
        let base = sanitize_id(name);
        let mut id = base.clone();
        let mut n = 2;
        while !self.used.insert(id.clone()) {
            id = format!("{base}_{n}");
            n += 1;
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_what_the_key_pattern_allows_and_stay_distinct() {
        assert_eq!(sanitize_id("orders.v1"), "orders_v1");
        assert_eq!(sanitize_id("hello-world_2"), "hello-world_2");
        let mut ids = Ids::default();
        assert_eq!(ids.fresh("a.b"), "a_b");
        assert_eq!(ids.fresh("a_b"), "a_b_2");
        assert_eq!(ids.fresh("a b"), "a_b_3");
    }
}
