//! Parents before children, for writes that need the parent's destination id first (page trees,
//! sub-tasks under their parent issue).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// Reorders `items` so that every item comes after its parent, keeping the given order
/// otherwise. An item whose parent is not among `items` counts as a root; items caught in a
/// cycle keep their relative order after everything else.
pub fn parents_first<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> Option<String>,
    parent: impl Fn(&T) -> Option<String>,
) -> Vec<T> {
    let index: HashMap<String, usize> = items
        .iter()
        .enumerate()
        .filter_map(|(i, x)| id(x).map(|k| (k, i)))
        .collect();
    let parent_of: Vec<Option<usize>> = items
        .iter()
        .map(|x| parent(x).and_then(|p| index.get(&p).copied()))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![vec![]; items.len()];
    for (i, p) in parent_of.iter().enumerate() {
        if let Some(p) = p {
            children[*p].push(i);
        }
    }
    // Kahn's order, always taking the earliest ready item: an order that is already valid
    // (issues in key order, parents first) is kept as it is.
    let mut ready: BinaryHeap<Reverse<usize>> = (0..items.len())
        .filter(|&i| parent_of[i].is_none())
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(items.len());
    let mut placed = vec![false; items.len()];
    while let Some(Reverse(i)) = ready.pop() {
        placed[i] = true;
        order.push(i);
        ready.extend(children[i].iter().map(|&c| Reverse(c)));
    }
    order.extend((0..items.len()).filter(|&i| !placed[i]));
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn children_follow_their_parents() {
        let docs = vec![
            json!({"id": "3", "parentId": "2"}),
            json!({"id": "1"}),
            json!({"id": "2", "parentId": "1"}),
            json!({"id": "4", "parentId": "elsewhere"}),
            json!({"id": "7", "parentId": "1"}),
            json!({"id": "5", "parentId": "6"}),
            json!({"id": "6", "parentId": "5"}),
        ];
        let s = |v: &Value, k: &str| v[k].as_str().map(String::from);
        let out = parents_first(docs, |d| s(d, "id"), |d| s(d, "parentId"));
        let ids: Vec<&str> = out.iter().map(|d| d["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            ["1", "2", "3", "4", "7", "5", "6"],
            "otherwise in the given order"
        );
    }
}
