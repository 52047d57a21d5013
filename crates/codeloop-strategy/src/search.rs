//! Search over trees of programs: the shared state of the tree and forest methods (`CodeTree`,
//! Scattered Forest Search) and the policies that choose which node to work on next.
//!
//! A [`Tree`] is a forest: nodes with a parent (or none, for a root), children, a depth, a
//! payload (what a method keeps per node: a strategy's text, a program, its feedback), the node's
//! own value once it is scored, and the visit count and value sum that UCT backs up. Everything is
//! pure and deterministic (ties go to the lowest node id), so a search replays exactly from the
//! same observations.
//!
//! The policies:
//! - [`BreadthFirst`]: nodes in the order they were added (a queue);
//! - [`DepthFirst`]: the newest first (a stack), with `CodeTree`'s rule that a node whose value fell
//!   below its parent's is not expanded ([`DepthFirst::pop`] skips it);
//! - [`uct_select`]: from the roots down, the child with the highest
//!   `mean + c * sqrt(ln(parent visits) / visits)` (unvisited children first), as Scattered Forest
//!   Search selects over its forest; [`Tree::backup`] adds a value along the path to the root.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// A node's index in its [`Tree`].
pub type NodeId = usize;

/// One node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node<T> {
    /// Its parent (`None`: a root).
    pub parent: Option<NodeId>,
    /// Its children, in the order they were added.
    pub children: Vec<NodeId>,
    /// 0 for a root.
    pub depth: u32,
    /// What the method keeps here.
    pub payload: T,
    /// Its own score, once scored (e.g. the share of public tests passed).
    pub value: Option<f64>,
    /// Times a backed-up value went through it.
    pub visits: u32,
    /// The sum of those values.
    pub total: f64,
    /// The highest score in its subtree, raised by [`Tree::raise`] (Scattered Forest Search's
    /// backed-up value; its own score until then).
    #[serde(default)]
    pub best: f64,
}

impl<T> Node<T> {
    /// The mean of the values backed up through it (0 before any).
    #[must_use]
    pub fn mean(&self) -> f64 {
        if self.visits == 0 {
            0.0
        } else {
            self.total / f64::from(self.visits)
        }
    }
}

/// A forest of nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree<T> {
    nodes: Vec<Node<T>>,
    /// Descents through the (virtual) root above the roots ([`forest_select`]).
    #[serde(default)]
    root_visits: u32,
}

impl<T> Default for Tree<T> {
    fn default() -> Self {
        Tree {
            nodes: Vec::new(),
            root_visits: 0,
        }
    }
}

impl<T> Tree<T> {
    /// An empty forest.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a root.
    pub fn add_root(&mut self, payload: T) -> NodeId {
        self.push(None, 0, payload)
    }

    /// Adds a child of `parent`.
    ///
    /// # Panics
    /// When `parent` is not a node of this tree.
    pub fn add_child(&mut self, parent: NodeId, payload: T) -> NodeId {
        let depth = self.nodes[parent].depth + 1;
        let id = self.push(Some(parent), depth, payload);
        self.nodes[parent].children.push(id);
        id
    }

    fn push(&mut self, parent: Option<NodeId>, depth: u32, payload: T) -> NodeId {
        self.nodes.push(Node {
            parent,
            children: Vec::new(),
            depth,
            payload,
            value: None,
            visits: 0,
            total: 0.0,
            best: 0.0,
        });
        self.nodes.len() - 1
    }

    /// The node `id`.
    ///
    /// # Panics
    /// When `id` is not a node of this tree.
    #[must_use]
    pub fn node(&self, id: NodeId) -> &Node<T> {
        &self.nodes[id]
    }

    /// The node `id`, to change its payload.
    ///
    /// # Panics
    /// When `id` is not a node of this tree.
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node<T> {
        &mut self.nodes[id]
    }

    /// Nodes in the forest.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether it has no node.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The roots, in the order they were added.
    #[must_use]
    pub fn roots(&self) -> Vec<NodeId> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].parent.is_none())
            .collect()
    }

    /// Scores `id`.
    pub fn set_value(&mut self, id: NodeId, value: f64) {
        self.nodes[id].value = Some(value);
        self.nodes[id].best = value;
    }

    /// Raises every ancestor's [`Node::best`] to `id`'s where it is higher (Scattered Forest
    /// Search's back-propagation: `parent.value += max(0, child.value - parent.value)`,
    /// `src/solvers/search_utils.py` l.138-144 of `codespace-optimization/sfs` @ 9185737).
    pub fn raise(&mut self, id: NodeId) {
        let mut at = id;
        while let Some(p) = self.nodes[at].parent {
            self.nodes[p].best = self.nodes[p].best.max(self.nodes[at].best);
            at = p;
        }
    }

    /// Adds `value` to `id` and every ancestor (one visit each).
    pub fn backup(&mut self, id: NodeId, value: f64) {
        let mut at = Some(id);
        while let Some(i) = at {
            self.nodes[i].visits += 1;
            self.nodes[i].total += value;
            at = self.nodes[i].parent;
        }
    }

    /// The path from a root to `id`, both included.
    #[must_use]
    pub fn path(&self, id: NodeId) -> Vec<NodeId> {
        let mut path = vec![id];
        while let Some(p) = self.nodes[*path.last().expect("never empty")].parent {
            path.push(p);
        }
        path.reverse();
        path
    }

    /// The scored node of highest value (the earliest of equals); `None` before any score.
    #[must_use]
    pub fn best(&self) -> Option<NodeId> {
        let mut best: Option<(NodeId, f64)> = None;
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(v) = n.value
                && best.is_none_or(|(_, b)| v > b)
            {
                best = Some((i, v));
            }
        }
        best.map(|(i, _)| i)
    }
}

/// Nodes in the order they were added.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreadthFirst {
    queue: VecDeque<NodeId>,
}

impl BreadthFirst {
    /// Queues `ids`, in order.
    pub fn push(&mut self, ids: impl IntoIterator<Item = NodeId>) {
        self.queue.extend(ids);
    }

    /// The next node.
    pub fn pop(&mut self) -> Option<NodeId> {
        self.queue.pop_front()
    }
}

/// The newest nodes first, skipping those that scored below their parent (`CodeTree`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepthFirst {
    stack: Vec<NodeId>,
    aborted: Vec<NodeId>,
}

impl DepthFirst {
    /// Pushes `ids` (siblings) so that the first of them comes out first.
    pub fn push(&mut self, ids: impl IntoIterator<Item = NodeId>) {
        let ids: Vec<NodeId> = ids.into_iter().collect();
        self.stack.extend(ids.into_iter().rev());
    }

    /// The next node to work on: the top of the stack, passing over any scored node whose value
    /// is below its scored parent's (its expansion is aborted; see [`DepthFirst::aborted`]).
    pub fn pop<T>(&mut self, tree: &Tree<T>) -> Option<NodeId> {
        while let Some(id) = self.stack.pop() {
            let node = tree.node(id);
            let worse = match (node.value, node.parent.and_then(|p| tree.node(p).value)) {
                (Some(v), Some(parent)) => v < parent,
                _ => false,
            };
            if !worse {
                return Some(id);
            }
            self.aborted.push(id);
        }
        None
    }

    /// The nodes passed over for scoring below their parent, in order.
    #[must_use]
    pub fn aborted(&self) -> &[NodeId] {
        &self.aborted
    }
}

/// UCT from the roots down: at each level the child (or root) with the highest
/// `mean + c * sqrt(ln(visits of the level) / visits)`, where an unvisited node comes first;
/// the descent stops at the first node for which `stop(id)` holds (it can still be expanded),
/// or at a leaf. `None` for an empty forest.
#[must_use]
pub fn uct_select<T>(tree: &Tree<T>, c: f64, stop: impl Fn(NodeId) -> bool) -> Option<NodeId> {
    let mut level = tree.roots();
    loop {
        let visits: u32 = level.iter().map(|&i| tree.node(i).visits).sum();
        let chosen = pick(tree, &level, visits, c)?;
        if stop(chosen) || tree.node(chosen).children.is_empty() {
            return Some(chosen);
        }
        level.clone_from(&tree.node(chosen).children);
    }
}

/// Scattered Forest Search's selection (`Graph.simulate_trajectory` with
/// `has_unvisited_actions_or_no_better_child`, `src/solvers/search_utils.py` l.175-203 of
/// `codespace-optimization/sfs` @ 9185737): from a virtual root above the roots, descend to the
/// child of highest `best + c * sqrt(ln(parent visits) / visits)` (an unvisited one first, the
/// lowest id among equals), counting a visit on the virtual root and on every node entered; stop
/// at a node that `untried` says still has a direction to try, at a leaf, or at a node none of
/// whose children scored above it. `None` for an empty forest.
pub fn forest_select<T>(
    tree: &mut Tree<T>,
    c: f64,
    untried: impl Fn(NodeId) -> bool,
) -> Option<NodeId> {
    tree.root_visits += 1;
    let mut level = tree.roots();
    let mut parent_visits = tree.root_visits;
    loop {
        let uct = |id: NodeId| {
            let n = tree.node(id);
            if n.visits == 0 {
                f64::INFINITY
            } else {
                n.best + c * (f64::from(parent_visits).ln() / f64::from(n.visits)).sqrt()
            }
        };
        let mut chosen: Option<(NodeId, f64)> = None;
        for &id in &level {
            let u = uct(id);
            if chosen.is_none_or(|(_, b)| u > b) {
                chosen = Some((id, u));
            }
        }
        let (id, _) = chosen?;
        tree.nodes[id].visits += 1;
        let node = tree.node(id);
        let own = node.value.unwrap_or(0.0);
        let no_better = node
            .children
            .iter()
            .all(|&ch| tree.node(ch).value.unwrap_or(0.0) <= own);
        if node.children.is_empty() || untried(id) || no_better {
            return Some(id);
        }
        parent_visits = node.visits;
        level.clone_from(&node.children);
    }
}

/// The highest UCT score among `level` (the lowest id among equals), given their parent's visits.
fn pick<T>(tree: &Tree<T>, level: &[NodeId], parent_visits: u32, c: f64) -> Option<NodeId> {
    let score = |id: NodeId| {
        let n = tree.node(id);
        if n.visits == 0 {
            return f64::INFINITY;
        }
        let explore = (f64::from(parent_visits.max(1)).ln() / f64::from(n.visits)).sqrt();
        n.mean() + c * explore
    };
    let mut best: Option<(NodeId, f64)> = None;
    for &id in level {
        let s = score(id);
        if best.is_none_or(|(_, b)| s > b) {
            best = Some((id, s));
        }
    }
    best.map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// r0 (0.5) with children a (0.7) and b (0.2); a has child c (0.9); r1 (0.1).
    fn forest() -> (Tree<&'static str>, [NodeId; 5]) {
        let mut t = Tree::new();
        let r0 = t.add_root("r0");
        let a = t.add_child(r0, "a");
        let b = t.add_child(r0, "b");
        let c = t.add_child(a, "c");
        let r1 = t.add_root("r1");
        for (id, v) in [(r0, 0.5), (a, 0.7), (b, 0.2), (c, 0.9), (r1, 0.1)] {
            t.set_value(id, v);
        }
        (t, [r0, a, b, c, r1])
    }

    #[test]
    fn a_forest_keeps_parents_depths_paths_and_its_best_node() {
        let (t, [r0, a, _, c, r1]) = forest();
        assert_eq!(t.roots(), vec![r0, r1]);
        assert_eq!(t.node(c).depth, 2);
        assert_eq!(t.path(c), vec![r0, a, c]);
        assert_eq!(t.best(), Some(c));
        assert_eq!(Tree::<()>::new().best(), None);
    }

    #[test]
    fn breadth_first_takes_nodes_in_the_order_they_came() {
        let (_, [r0, a, b, c, r1]) = forest();
        let mut q = BreadthFirst::default();
        q.push([r0, r1]);
        q.push([a, b]);
        q.push([c]);
        let order: Vec<NodeId> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![r0, r1, a, b, c]);
    }

    #[test]
    fn depth_first_takes_the_newest_first_and_aborts_nodes_worse_than_their_parent() {
        let (tree, [r0, a, b, c, r1]) = forest();
        let mut stack = DepthFirst::default();
        stack.push([r0, r1]);
        assert_eq!(stack.pop(&tree), Some(r0));
        stack.push([a, b]);
        // a (0.7 >= 0.5) first; then its child c (0.9 >= 0.7).
        assert_eq!(stack.pop(&tree), Some(a));
        stack.push([c]);
        assert_eq!(stack.pop(&tree), Some(c));
        // b scored 0.2 below its parent's 0.5: passed over; r1 is a root.
        assert_eq!(stack.pop(&tree), Some(r1));
        assert_eq!(stack.pop(&tree), None);
        assert_eq!(stack.aborted(), &[b]);
    }

    #[test]
    fn uct_tries_every_root_first_then_weighs_means_against_visits() {
        let mut t: Tree<()> = Tree::new();
        let roots: Vec<NodeId> = (0..3).map(|_| t.add_root(())).collect();
        let leaf = |_| false;
        // Unvisited roots come first, lowest id first.
        assert_eq!(uct_select(&t, 1.0, leaf), Some(roots[0]));
        t.backup(roots[0], 1.0);
        assert_eq!(uct_select(&t, 1.0, leaf), Some(roots[1]));
        t.backup(roots[1], 0.0);
        t.backup(roots[2], 0.5);
        // All visited once: means 1.0, 0.0, 0.5 with the same bonus.
        assert_eq!(uct_select(&t, 1.0, leaf), Some(roots[0]));
        // Root 0 visited 9 more times at 0 (mean 0.1) and root 2 once more at 0.5: with c = 1,
        // root 0 scores 0.1 + sqrt(ln 13 / 10) = 0.606, root 1 0 + sqrt(ln 13) = 1.602,
        // root 2 0.5 + sqrt(ln 13 / 2) = 1.633.
        for _ in 0..9 {
            t.backup(roots[0], 0.0);
        }
        t.backup(roots[2], 0.5);
        assert_eq!(uct_select(&t, 1.0, leaf), Some(roots[2]));
        // With no exploration the best mean wins.
        assert_eq!(uct_select(&t, 0.0, leaf), Some(roots[2]));
    }

    #[test]
    fn uct_descends_to_a_leaf_or_to_a_node_that_can_still_grow_and_backs_up_the_path() {
        let mut t: Tree<()> = Tree::new();
        let r = t.add_root(());
        let a = t.add_child(r, ());
        let b = t.add_child(r, ());
        t.backup(a, 1.0);
        t.backup(b, 0.0);
        assert_eq!((t.node(r).visits, t.node(r).total), (2, 1.0));
        // Equal bonuses: a's mean wins; a is a leaf.
        assert_eq!(uct_select(&t, 0.5, |_| false), Some(a));
        // The root can still grow: the descent stops there.
        assert_eq!(uct_select(&t, 0.5, |id| id == r), Some(r));
    }
}
