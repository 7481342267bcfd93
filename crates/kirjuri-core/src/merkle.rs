//! The RFC 6962 / RFC 9162 Merkle tree that makes the audit log
//! tamper-evident (AUD-2): leaf and node hashes, the root of a tree of any
//! size, a streaming [`TreeBuilder`] that recomputes a root in one pass with
//! O(log n) memory, inclusion and consistency proofs with their verifiers, and
//! a streaming [`ProofBuilder`] that builds a consistency proof from an old
//! tree's frontier and the leaves after it, never rereading the old leaves.
//!
//! The hashes are exactly those of Certificate Transparency, so a root signed
//! in a checkpoint can be checked by any RFC 6962 tool:
//!
//! - leaf = SHA-256(0x00 ‖ event bytes)
//! - node = SHA-256(0x01 ‖ left ‖ right)
//! - the empty tree's root = SHA-256("")
//! - a tree of n > 1 leaves splits at k, the largest power of two below n:
//!   root = node(root(leaves[..k]), root(leaves[k..])).
//!
//! What this module is not: it knows nothing of audit events, their encoding
//! or their storage, and it signs nothing (checkpoints are signed by
//! `kirjuri-vault`). After [`leaf_hash`], everything works on leaf *hashes*.
//!
//! **Invariant for verifiers.** A root alone does not commit to the tree
//! size, and a leaf hash alone does not prove it came from a leaf. So a
//! verifier computes `leaf` itself with [`leaf_hash`] from the event bytes it
//! holds, and takes `size` (and the root) from a signed checkpoint — never
//! from the party that supplied the proof. With both in hand, every proof
//! here is as strong as SHA-256.
//!
//! Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 literally, plus
//! explicit rejection of what the RFC leaves to the caller: an index outside
//! the tree, a shrinking tree, a non-empty proof where none is needed, and an
//! "empty tree" whose root is not the empty root.

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A SHA-256 digest: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// Domain-separation prefix of a leaf hash (RFC 6962 §2.1).
const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of an interior node hash (RFC 6962 §2.1).
const NODE_PREFIX: u8 = 0x01;

/// The hash of one leaf: SHA-256(0x00 ‖ `data`).
///
/// The prefix keeps a leaf from ever being confused with an interior node
/// (a second-preimage attack on the tree).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(data);
    hasher.finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 ‖ `left` ‖ `right`).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut block = [0u8; 65];
    block[0] = NODE_PREFIX;
    block[1..33].copy_from_slice(left);
    block[33..].copy_from_slice(right);
    Sha256::digest(block).into()
}

/// The root of the empty tree: SHA-256 of the empty string
/// (`e3b0c442…b855`).
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The root of the tree whose leaf hashes are `leaves`, in order.
///
/// Memory is O(log n) beyond the slice; for a log too large to hold in
/// memory, feed a [`TreeBuilder`] instead.
pub fn root(leaves: &[Hash]) -> Hash {
    leaves.iter().copied().collect::<TreeBuilder>().root()
}

/// Builds a tree one leaf hash at a time and gives its root at any moment.
///
/// It keeps only the roots of the perfect subtrees the tree decomposes into
/// (one per set bit of its size: at most 64 hashes, a "compact range" of
/// `[0, size)`), so `kirjuri audit verify` streams 10 million events through
/// it in one pass and constant memory. Appending costs one leaf push and, on
/// average, one node hash; [`TreeBuilder::root`] costs at most 63 node hashes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeBuilder {
    /// How many leaves have been appended.
    size: u64,
    /// Roots of the perfect subtrees covering `[0, size)`, largest (leftmost)
    /// first; subtree j has 2^b leaves for the j-th highest set bit b of `size`.
    frontier: Vec<Hash>,
}

impl TreeBuilder {
    /// An empty tree.
    pub fn new() -> TreeBuilder {
        TreeBuilder::default()
    }

    /// Resumes a tree from a saved [`TreeBuilder::frontier`] and its size, so
    /// a writer can continue after a restart without re-reading every leaf.
    ///
    /// The frontier is not self-authenticating: check the resumed
    /// [`TreeBuilder::root`] against the last signed checkpoint of that size
    /// before appending to it. Fails if the number of hashes does not match
    /// `size` (one per set bit).
    pub fn from_frontier(size: u64, frontier: Vec<Hash>) -> Result<TreeBuilder> {
        if frontier.len() != size.count_ones() as usize {
            return Err(Error::MerkleRange {
                what: "frontier length",
                value: frontier.len() as u64,
                size,
            });
        }
        Ok(TreeBuilder { size, frontier })
    }

    /// Appends one leaf hash (from [`leaf_hash`]).
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        // Each trailing one bit of the old size is a perfect subtree of the
        // same size as the one being completed: merge them, right to left.
        let mut carry = self.size;
        while carry & 1 == 1 {
            match self.frontier.pop() {
                Some(left) => hash = node_hash(&left, &hash),
                // Unreachable while `frontier` has one hash per set bit.
                None => break,
            }
            carry >>= 1;
        }
        self.frontier.push(hash);
        self.size += 1;
    }

    /// Appends one leaf given as its bytes: `push(leaf_hash(data))`.
    pub fn push_data(&mut self, data: &[u8]) {
        self.push(leaf_hash(data));
    }

    /// The number of leaves appended so far.
    pub fn len(&self) -> u64 {
        self.size
    }

    /// Whether no leaf has been appended.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The root of the tree of the leaves appended so far.
    pub fn root(&self) -> Hash {
        let mut subtrees = self.frontier.iter().rev();
        match subtrees.next() {
            None => empty_root(),
            Some(smallest) => subtrees.fold(*smallest, |right, left| node_hash(left, &right)),
        }
    }

    /// The perfect-subtree roots that, with [`TreeBuilder::len`], are the
    /// builder's whole state (for [`TreeBuilder::from_frontier`]).
    pub fn frontier(&self) -> &[Hash] {
        &self.frontier
    }
}

impl Extend<Hash> for TreeBuilder {
    fn extend<I: IntoIterator<Item = Hash>>(&mut self, leaves: I) {
        for leaf in leaves {
            self.push(leaf);
        }
    }
}

impl FromIterator<Hash> for TreeBuilder {
    fn from_iter<I: IntoIterator<Item = Hash>>(leaves: I) -> TreeBuilder {
        let mut builder = TreeBuilder::new();
        builder.extend(leaves);
        builder
    }
}

/// The inclusion proof (RFC 6962 §2.1.1 `PATH`, RFC 9162 §2.1.3.1) of leaf
/// `index` in the tree of `leaves`: the sibling hashes from the leaf up to
/// the root. Fails if `index` is not a leaf of the tree.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>> {
    let position = usize::try_from(index)
        .ok()
        .filter(|&position| position < leaves.len())
        .ok_or(Error::MerkleRange {
            what: "leaf index",
            value: index,
            size: leaves.len() as u64,
        })?;
    let mut proof = Vec::new();
    path(position, leaves, &mut proof);
    Ok(proof)
}

/// `PATH(m, D[n])`, appending to `proof` (deepest sibling first).
fn path(m: usize, leaves: &[Hash], proof: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let (left, right) = leaves.split_at(split_point(leaves.len()));
    if m < left.len() {
        path(m, left, proof);
        proof.push(root(right));
    } else {
        path(m - left.len(), right, proof);
        proof.push(root(left));
    }
}

/// Verifies that `leaf` (a [`leaf_hash`]) is leaf `index` of the tree of
/// `size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
///
/// Rejects an index outside the tree, a proof too short or too long for the
/// position, and any proof that does not hash up to `root`. See the module
/// docs: `size` and `root` must come from a signed checkpoint.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let mut node = index;
    let mut last = size - 1;
    let mut hash = *leaf;
    for sibling in proof {
        if last == 0 {
            // The proof is longer than the path to the root.
            return false;
        }
        if node & 1 == 1 || node == last {
            hash = node_hash(sibling, &hash);
            // A right-edge node with no right sibling is promoted unchanged
            // through the levels where it is a left child.
            while node & 1 == 0 && node != 0 {
                node >>= 1;
                last >>= 1;
            }
        } else {
            hash = node_hash(&hash, sibling);
        }
        node >>= 1;
        last >>= 1;
    }
    last == 0 && hash == *root
}

/// The consistency proof (RFC 6962 §2.1.2 `PROOF`, RFC 9162 §2.1.4.1) that
/// the tree of the first `old_size` leaves is a prefix of the tree of all
/// `leaves`. Empty when `old_size` is 0 or the whole tree; fails if
/// `old_size` exceeds the tree.
///
/// It needs every leaf hash in memory (32 bytes each). A writer that only
/// needs to know its new tree extends its last signed one can instead resume
/// a [`TreeBuilder`] whose root matched that checkpoint and stream the proof
/// with a [`ProofBuilder`].
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>> {
    let old = usize::try_from(old_size)
        .ok()
        .filter(|&old| old <= leaves.len())
        .ok_or(Error::MerkleRange {
            what: "old tree size",
            value: old_size,
            size: leaves.len() as u64,
        })?;
    let mut proof = Vec::new();
    if old > 0 {
        subproof(old, leaves, true, &mut proof);
    }
    Ok(proof)
}

/// `SUBPROOF(m, D[n], b)`, appending to `proof`. `complete` (b) says whether
/// the subtree `D[0:m]` is the whole old tree, whose root the verifier has.
fn subproof(m: usize, leaves: &[Hash], complete: bool, proof: &mut Vec<Hash>) {
    if m == leaves.len() {
        if !complete {
            proof.push(root(leaves));
        }
        return;
    }
    // Here 0 < m < n, so n ≥ 2 and the split is defined.
    let (left, right) = leaves.split_at(split_point(leaves.len()));
    if m <= left.len() {
        subproof(m, left, complete, proof);
        proof.push(root(right));
    } else {
        subproof(m - left.len(), right, false, proof);
        proof.push(root(left));
    }
}

/// Verifies that the tree of `old_size` leaves with root `old_root` is a
/// prefix of the tree of `new_size` leaves with root `new_root`
/// (RFC 9162 §2.1.4.2).
///
/// Edge cases, stricter than the RFC leaves them: a tree never shrinks
/// (`old_size > new_size` fails); equal sizes need an empty proof and equal
/// roots; an old size of 0 needs an empty proof and `old_root` equal to
/// [`empty_root`] (any tree extends the empty one, so `new_root` is not
/// checked then); otherwise an empty, short, long or wrong proof fails.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == 0 {
        return proof.is_empty()
            && *old_root == empty_root()
            && (new_size != 0 || new_root == old_root);
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    // 0 < old_size < new_size: a proof must say something.
    let Some((first, rest)) = proof.split_first() else {
        return false;
    };
    // When the old tree is a perfect subtree of the new one, its root is the
    // proof's implicit first element.
    let (start, path) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        (first, rest)
    };
    let mut node = old_size - 1;
    let mut last = new_size - 1;
    while node & 1 == 1 {
        node >>= 1;
        last >>= 1;
    }
    let mut old_hash = *start;
    let mut new_hash = *start;
    for sibling in path {
        if last == 0 {
            return false;
        }
        if node & 1 == 1 || node == last {
            old_hash = node_hash(sibling, &old_hash);
            new_hash = node_hash(sibling, &new_hash);
            while node & 1 == 0 && node != 0 {
                node >>= 1;
                last >>= 1;
            }
        } else {
            new_hash = node_hash(&new_hash, sibling);
        }
        node >>= 1;
        last >>= 1;
    }
    last == 0 && old_hash == *old_root && new_hash == *new_root
}

// --- consistency proofs from a frontier and the leaves that follow ----------

/// Builds the RFC 9162 consistency proof from the tree of `old` leaves to the
/// tree of `new` leaves out of the old tree's frontier and the leaves
/// `old..new` as they stream past, in constant memory.
///
/// Every node of the proof (`SUBPROOF`, RFC 9162 §2.1.4.1) lies either
/// wholly before `old` — and is then one of the old tree's perfect subtrees,
/// i.e. a frontier hash — or wholly at or after `old`; none straddles it.
/// The second kind are disjoint ranges, hashed one at a time as their
/// leaves arrive. So no leaf before `old` is needed, which is what lets the
/// writer prove consistency without rereading the log.
#[derive(Debug)]
pub struct ProofBuilder {
    old: u64,
    new: u64,
    /// The proof, in order; `None` until known.
    proof: Vec<Option<Hash>>,
    /// The ranges among the new leaves: (start, end, index in `proof`),
    /// ascending.
    ranges: Vec<(u64, u64, usize)>,
    /// The next range to complete.
    next_range: usize,
    /// The subtree being hashed.
    current: TreeBuilder,
    /// How many leaves the tree has with those pushed so far.
    position: u64,
}

impl ProofBuilder {
    /// Starts a proof from the tree of `old` leaves (whose frontier is
    /// `frontier`) to the tree of `new` leaves. `None` if `new < old` or the
    /// frontier does not fit `old`.
    pub fn new(old: u64, frontier: &[Hash], new: u64) -> Option<ProofBuilder> {
        if new < old || frontier.len() != old.count_ones() as usize {
            return None;
        }
        let mut slots = Vec::new();
        if old > 0 && old < new {
            subproof_ranges(old, 0, new, true, &mut slots);
        }
        // The frontier's subtrees: one per set bit of `old`, largest first.
        let mut starts = Vec::with_capacity(frontier.len());
        let mut start = 0;
        for bit in (0..64).rev() {
            let len = 1u64 << bit;
            if old & len != 0 {
                starts.push((start, start + len));
                start += len;
            }
        }
        let mut proof = Vec::with_capacity(slots.len());
        let mut ranges = Vec::new();
        for (a, b) in slots {
            if b <= old {
                let index = starts.iter().position(|&(s, e)| s == a && e == b)?;
                proof.push(Some(*frontier.get(index)?));
            } else if a >= old {
                ranges.push((a, b, proof.len()));
                proof.push(None);
            } else {
                // A node straddling the old size: impossible (see above).
                return None;
            }
        }
        ranges.sort_unstable();
        Some(ProofBuilder {
            old,
            new,
            proof,
            ranges,
            next_range: 0,
            current: TreeBuilder::new(),
            position: old,
        })
    }

    /// Feeds the next leaf (leaf number `position`, counting from 0).
    pub fn push(&mut self, leaf: Hash) {
        let position = self.position;
        self.position += 1;
        let Some(&(start, end, index)) = self.ranges.get(self.next_range) else {
            return;
        };
        if position < start {
            return;
        }
        self.current.push(leaf);
        if position + 1 == end {
            if let Some(slot) = self.proof.get_mut(index) {
                *slot = Some(self.current.root());
            }
            self.current = TreeBuilder::new();
            self.next_range += 1;
        }
    }

    /// The size the proof is from.
    pub fn old_size(&self) -> u64 {
        self.old
    }

    /// The size the proof is to.
    pub fn new_size(&self) -> u64 {
        self.new
    }

    /// The proof, once every leaf up to the new size has been pushed.
    pub fn finish(self) -> Option<Vec<Hash>> {
        if self.position != self.new {
            return None;
        }
        self.proof.into_iter().collect()
    }
}

/// `SUBPROOF(m, D[start:start+n], complete)` of RFC 9162 on sizes only: the
/// nodes of the proof as leaf ranges `[start, end)`, in proof order. (The
/// same recursion as [`subproof`], which hashes the nodes as it goes.)
fn subproof_ranges(m: u64, start: u64, n: u64, complete: bool, out: &mut Vec<(u64, u64)>) {
    if m == n {
        if !complete {
            out.push((start, start + n));
        }
        return;
    }
    // Here 0 < m < n: split at the largest power of two below n.
    let k = 1u64 << (63 - (n - 1).leading_zeros());
    if m <= k {
        subproof_ranges(m, start, k, complete, out);
        out.push((start + k, start + n));
    } else {
        subproof_ranges(m - k, start + k, n - k, false, out);
        out.push((start, start + k));
    }
}

/// The largest power of two strictly below `n`, where RFC 6962 splits a tree
/// of `n ≥ 2` leaves.
fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The eight leaves of the Certificate Transparency reference tests
    /// (transparency-dev/merkle `proof/verify_test.go`, originally CT's).
    const CT_LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    /// Roots of the trees of the first 0…8 CT leaves. Recomputed here and
    /// identical to the public CT vectors (the `roots` table of
    /// transparency-dev/merkle `proof/verify_test.go`; size 0 is SHA-256("")).
    const CT_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn unhex(text: &str) -> Vec<u8> {
        assert_eq!(text.len() % 2, 0);
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn h(text: &str) -> Hash {
        unhex(text).try_into().unwrap()
    }

    fn ct_leaves() -> Vec<Hash> {
        CT_LEAVES
            .iter()
            .map(|leaf| leaf_hash(&unhex(leaf)))
            .collect()
    }

    /// Leaf hashes of `n` distinct synthetic events.
    fn leaves(n: usize) -> Vec<Hash> {
        (0..n as u64).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// RFC 6962 `MTH`, written as literally as the RFC states it, to check
    /// the streaming builder against.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaves[0],
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    /// One-byte changes of a hash: every position (lowest bit flipped), and
    /// the first and last byte inverted. (Which value a byte changes to is
    /// immaterial to SHA-256; the proptests below pick random ones.)
    fn mutations(hash: &Hash) -> impl Iterator<Item = Hash> + '_ {
        let flips = (0..32).map(|i| (i, 0x01u8)).chain([(0, 0xff), (31, 0xff)]);
        flips.map(move |(i, flip)| {
            let mut mutated = *hash;
            mutated[i] ^= flip;
            mutated
        })
    }

    #[test]
    fn the_hashes_carry_the_rfc_6962_domain_prefixes() {
        assert_eq!(leaf_hash(b"abc"), <Hash>::from(Sha256::digest(b"\x00abc")));
        let (l, r) = ([1u8; 32], [2u8; 32]);
        let mut block = vec![1u8];
        block.extend_from_slice(&l);
        block.extend_from_slice(&r);
        assert_eq!(node_hash(&l, &r), <Hash>::from(Sha256::digest(&block)));
        assert_eq!(empty_root(), h(CT_ROOTS[0]));
    }

    #[test]
    fn roots_of_the_ct_reference_trees_match_the_published_vectors() {
        let leaves = ct_leaves();
        for (size, expected) in CT_ROOTS.iter().enumerate() {
            assert_eq!(root(&leaves[..size]), h(expected), "size {size}");
            assert_eq!(reference_root(&leaves[..size]), h(expected), "size {size}");
        }
    }

    #[test]
    fn inclusion_proofs_of_the_ct_reference_tree_match_the_published_vectors() {
        // (index, size, proof) from transparency-dev/merkle proof/verify_test.go
        // (which numbers leaves from 1).
        let vectors: [(u64, usize, &[&str]); 4] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        let leaves = ct_leaves();
        for (index, size, expected) in vectors {
            let expected: Vec<Hash> = expected.iter().map(|e| h(e)).collect();
            let proof = inclusion_proof(&leaves[..size], index).unwrap();
            assert_eq!(proof, expected, "leaf {index} of {size}");
            let leaf = &leaves[index as usize];
            assert!(verify_inclusion(
                leaf,
                index,
                size as u64,
                &proof,
                &h(CT_ROOTS[size])
            ));
        }
    }

    #[test]
    fn consistency_proofs_of_the_ct_reference_tree_match_the_published_vectors() {
        let vectors: [(u64, usize, &[&str]); 4] = [
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
            (
                6,
                7,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        let leaves = ct_leaves();
        for (old, new, expected) in vectors {
            let expected: Vec<Hash> = expected.iter().map(|e| h(e)).collect();
            let proof = consistency_proof(&leaves[..new], old).unwrap();
            assert_eq!(proof, expected, "{old} → {new}");
            let (old_root, new_root) = (h(CT_ROOTS[old as usize]), h(CT_ROOTS[new]));
            assert!(verify_consistency(
                old, new as u64, &old_root, &new_root, &proof
            ));
        }
    }

    #[test]
    fn the_streaming_builder_agrees_with_the_rfc_definition_at_every_size_up_to_300() {
        let leaves = leaves(300);
        let mut builder = TreeBuilder::new();
        assert_eq!(builder.root(), empty_root());
        for size in 1..=leaves.len() {
            builder.push(leaves[size - 1]);
            assert_eq!(builder.len(), size as u64);
            assert_eq!(builder.frontier().len(), size.count_ones() as usize);
            assert_eq!(
                builder.root(),
                reference_root(&leaves[..size]),
                "size {size}"
            );
        }
    }

    #[test]
    fn a_builder_resumed_from_its_frontier_continues_the_same_tree() {
        let leaves = leaves(100);
        for cut in 0..leaves.len() {
            let first: TreeBuilder = leaves[..cut].iter().copied().collect();
            let mut resumed =
                TreeBuilder::from_frontier(first.len(), first.frontier().to_vec()).unwrap();
            resumed.extend(leaves[cut..].iter().copied());
            assert_eq!(resumed.root(), root(&leaves), "cut at {cut}");
        }
        assert!(TreeBuilder::from_frontier(3, vec![[0; 32]]).is_err());
        assert!(TreeBuilder::from_frontier(0, vec![[0; 32]]).is_err());
    }

    #[test]
    fn push_data_hashes_the_event_as_a_leaf() {
        let mut by_data = TreeBuilder::new();
        by_data.push_data(b"event");
        assert_eq!(by_data.root(), leaf_hash(b"event"));
    }

    #[test]
    fn every_leaf_of_every_tree_up_to_64_has_a_verifying_inclusion_proof() {
        let all = leaves(64);
        for size in 1..=all.len() {
            let tree = &all[..size];
            let tree_root = reference_root(tree);
            for index in 0..size {
                let proof = inclusion_proof(tree, index as u64).unwrap();
                assert!(
                    verify_inclusion(&tree[index], index as u64, size as u64, &proof, &tree_root),
                    "leaf {index} of {size}"
                );
            }
        }
    }

    #[test]
    fn an_inclusion_proof_for_a_leaf_outside_the_tree_is_refused() {
        let tree = leaves(5);
        assert!(matches!(
            inclusion_proof(&tree, 5),
            Err(Error::MerkleRange {
                value: 5,
                size: 5,
                ..
            })
        ));
        assert!(inclusion_proof(&[], 0).is_err());
        assert!(!verify_inclusion(&tree[0], 0, 0, &[], &empty_root()));
        assert!(!verify_inclusion(&tree[0], 1, 1, &[], &tree[0]));
    }

    #[test]
    fn any_change_to_an_inclusion_claim_in_trees_up_to_24_is_rejected() {
        let all = leaves(40);
        let roots: Vec<Hash> = (0..=all.len()).map(|n| root(&all[..n])).collect();
        for size in 1..=24usize {
            let tree = &all[..size];
            let tree_root = root(tree);
            for index in 0..size {
                let leaf = tree[index];
                let proof = inclusion_proof(tree, index as u64).unwrap();
                let (i, n) = (index as u64, size as u64);
                for bad in mutations(&leaf) {
                    assert!(!verify_inclusion(&bad, i, n, &proof, &tree_root));
                }
                for bad in mutations(&tree_root) {
                    assert!(!verify_inclusion(&leaf, i, n, &proof, &bad));
                }
                for element in 0..proof.len() {
                    for bad in mutations(&proof[element]) {
                        let mut forged = proof.clone();
                        forged[element] = bad;
                        assert!(!verify_inclusion(&leaf, i, n, &forged, &tree_root));
                    }
                }
                // Another leaf's hash, or another index alone.
                for (other, other_leaf) in tree.iter().enumerate() {
                    if other != index {
                        let j = other as u64;
                        assert!(!verify_inclusion(other_leaf, i, n, &proof, &tree_root));
                        assert!(!verify_inclusion(&leaf, j, n, &proof, &tree_root));
                    }
                }
                // Another checkpoint: a size with its own root (a root does
                // not bind a size by itself; see the test below).
                for (other_size, other_root) in roots.iter().enumerate() {
                    if other_size != size {
                        assert!(
                            !verify_inclusion(&leaf, i, other_size as u64, &proof, other_root),
                            "leaf {index} of {size} accepted as of {other_size}"
                        );
                    }
                }
                // A proof one element too short, too long, or reordered.
                if let Some((_, shorter)) = proof.split_last() {
                    assert!(!verify_inclusion(&leaf, i, n, shorter, &tree_root));
                }
                for extra in [tree_root, leaf, [0u8; 32]] {
                    let mut longer = proof.clone();
                    longer.push(extra);
                    assert!(!verify_inclusion(&leaf, i, n, &longer, &tree_root));
                    let mut longer = vec![extra];
                    longer.extend_from_slice(&proof);
                    assert!(!verify_inclusion(&leaf, i, n, &longer, &tree_root));
                }
                if proof.len() > 1 {
                    let mut swapped = proof.clone();
                    swapped.swap(0, 1);
                    assert!(!verify_inclusion(&leaf, i, n, &swapped, &tree_root));
                }
            }
        }
    }

    #[test]
    fn an_empty_proof_does_not_pass_a_leaf_off_as_a_larger_tree() {
        // The degenerate-tree confusion: a single leaf (or a root presented as
        // a leaf) with an empty proof proves membership in a one-leaf tree only.
        let tree = leaves(4);
        let tree_root = root(&tree);
        assert!(verify_inclusion(&tree[0], 0, 1, &[], &tree[0]));
        for size in 2..=8 {
            assert!(!verify_inclusion(&tree_root, 0, size, &[], &tree_root));
            assert!(!verify_inclusion(&tree[0], 0, size, &[], &tree[0]));
        }
    }

    #[test]
    fn the_root_alone_does_not_bind_the_size_which_must_come_from_the_checkpoint() {
        // Why the module docs insist that `size` come from a signed checkpoint
        // together with its root. RFC 9162 verification uses the size only for
        // the shape of the path, and proof elements are bare hashes, so a claim
        // with another size of the same shape and the *same root* verifies:
        let tree = leaves(5);
        let tree_root = root(&tree);
        // leaf 0 of 3 and of 4 both sit two left turns below the root;
        let proof = inclusion_proof(&tree[..3], 0).unwrap();
        assert!(verify_inclusion(&tree[0], 0, 3, &proof, &root(&tree[..3])));
        assert!(verify_inclusion(&tree[0], 0, 4, &proof, &root(&tree[..3])));
        // leaf 4 of 5 and "leaf 2 of 3" both hang right of a full left subtree;
        let proof = inclusion_proof(&tree, 4).unwrap();
        assert!(verify_inclusion(&tree[4], 4, 5, &proof, &tree_root));
        assert!(verify_inclusion(&tree[4], 2, 3, &proof, &tree_root));
        // and a consistency proof 1 → 3 also "proves" 1 → 4 to the 3-leaf root.
        let proof = consistency_proof(&tree[..3], 1).unwrap();
        let (r1, r3) = (root(&tree[..1]), root(&tree[..3]));
        assert!(verify_consistency(1, 3, &r1, &r3, &proof));
        assert!(verify_consistency(1, 4, &r1, &r3, &proof));
        // With the root that a checkpoint of size 4 would carry, all fail.
        let r4 = root(&tree[..4]);
        assert!(!verify_inclusion(
            &tree[0],
            0,
            4,
            &inclusion_proof(&tree[..3], 0).unwrap(),
            &r4
        ));
        assert!(!verify_consistency(1, 4, &r1, &r4, &proof));
    }

    #[test]
    fn every_pair_of_sizes_up_to_64_has_a_verifying_consistency_proof() {
        let all = leaves(64);
        let roots: Vec<Hash> = (0..=all.len()).map(|n| reference_root(&all[..n])).collect();
        for new in 0..=all.len() {
            for old in 0..=new {
                let proof = consistency_proof(&all[..new], old as u64).unwrap();
                if old == 0 || old == new {
                    assert!(proof.is_empty());
                }
                assert!(
                    verify_consistency(old as u64, new as u64, &roots[old], &roots[new], &proof),
                    "{old} → {new}"
                );
            }
        }
    }

    #[test]
    fn a_consistency_proof_from_beyond_the_tree_is_refused() {
        let tree = leaves(5);
        assert!(matches!(
            consistency_proof(&tree, 6),
            Err(Error::MerkleRange {
                value: 6,
                size: 5,
                ..
            })
        ));
        let (r3, r5) = (root(&tree[..3]), root(&tree));
        let proof = consistency_proof(&tree, 3).unwrap();
        assert!(!verify_consistency(5, 3, &r5, &r3, &proof));
    }

    #[test]
    fn the_trivial_consistency_cases_follow_the_rfc_and_reject_the_rest() {
        let tree = leaves(4);
        let (r0, r1, r2) = (empty_root(), root(&tree[..1]), root(&tree[..2]));
        // Empty → anything, and a tree → itself: empty proof.
        assert!(verify_consistency(0, 0, &r0, &r0, &[]));
        assert!(verify_consistency(0, 2, &r0, &r2, &[]));
        assert!(verify_consistency(2, 2, &r2, &r2, &[]));
        // ... but not with a proof, or with roots that cannot be.
        assert!(!verify_consistency(0, 2, &r0, &r2, &[r0]));
        assert!(!verify_consistency(0, 2, &r1, &r2, &[]));
        assert!(!verify_consistency(0, 0, &r0, &r1, &[]));
        assert!(!verify_consistency(2, 2, &r2, &r2, &[r2]));
        assert!(!verify_consistency(2, 2, &r1, &r2, &[]));
        assert!(!verify_consistency(1, 1, &r1, &r2, &[]));
        // A real extension needs a real proof.
        assert!(!verify_consistency(1, 2, &r1, &r2, &[]));
        assert!(!verify_consistency(2, 1, &r2, &r1, &[]));
    }

    #[test]
    fn any_change_to_a_consistency_claim_in_trees_up_to_24_is_rejected() {
        let all = leaves(40);
        let roots: Vec<Hash> = (0..=all.len()).map(|n| root(&all[..n])).collect();
        for new in 1..=24usize {
            for old in 1..new {
                let proof = consistency_proof(&all[..new], old as u64).unwrap();
                let (m, n) = (old as u64, new as u64);
                let (old_root, new_root) = (roots[old], roots[new]);
                assert!(verify_consistency(m, n, &old_root, &new_root, &proof));
                for bad in mutations(&old_root) {
                    assert!(!verify_consistency(m, n, &bad, &new_root, &proof));
                }
                for bad in mutations(&new_root) {
                    assert!(!verify_consistency(m, n, &old_root, &bad, &proof));
                }
                for element in 0..proof.len() {
                    for bad in mutations(&proof[element]) {
                        let mut forged = proof.clone();
                        forged[element] = bad;
                        assert!(!verify_consistency(m, n, &old_root, &new_root, &forged));
                    }
                }
                // Other checkpoints: a size with its own root in place of
                // either end.
                for (other, other_root) in roots.iter().enumerate() {
                    if other != old {
                        assert!(
                            !verify_consistency(other as u64, n, other_root, &new_root, &proof),
                            "{old} → {new} accepted as {other} → {new}"
                        );
                    }
                    if other != new {
                        assert!(
                            !verify_consistency(m, other as u64, &old_root, other_root, &proof),
                            "{old} → {new} accepted as {old} → {other}"
                        );
                    }
                }
                assert!(!verify_consistency(m, n, &new_root, &old_root, &proof));
                assert!(!verify_consistency(m, n, &old_root, &new_root, &[]));
                if let Some((_, shorter)) = proof.split_last() {
                    assert!(!verify_consistency(m, n, &old_root, &new_root, shorter));
                }
                for extra in [old_root, new_root, proof[0], [0u8; 32]] {
                    let mut longer = proof.clone();
                    longer.push(extra);
                    assert!(!verify_consistency(m, n, &old_root, &new_root, &longer));
                    let mut longer = vec![extra];
                    longer.extend_from_slice(&proof);
                    assert!(!verify_consistency(m, n, &old_root, &new_root, &longer));
                }
            }
        }
    }

    #[test]
    fn a_rewritten_suffix_has_no_consistency_proof() {
        // "Truncate and regrow": an insider rewrites the last events of an
        // already-checkpointed tree and appends until the size matches (or
        // exceeds) what was signed.
        let honest = leaves(40);
        for signed in 1..=24usize {
            let signed_root = root(&honest[..signed]);
            for rewritten_from in 0..signed {
                let mut forged = honest.clone();
                for (i, leaf) in forged.iter_mut().enumerate().skip(rewritten_from) {
                    *leaf = leaf_hash(format!("forged {i}").as_bytes());
                }
                // Same size: the roots differ, and no proof makes them consistent.
                let forged_root = root(&forged[..signed]);
                assert!(!verify_consistency(
                    signed as u64,
                    signed as u64,
                    &signed_root,
                    &forged_root,
                    &[]
                ));
                // Regrown past the signed size: neither the forger's own proof
                // nor the honest tree's proof links the signed root to it.
                for grown in [signed + 1, signed + 7, 40] {
                    let forged_tree = &forged[..grown];
                    let forged_proof = consistency_proof(forged_tree, signed as u64).unwrap();
                    let honest_proof = consistency_proof(&honest[..grown], signed as u64).unwrap();
                    for proof in [forged_proof, honest_proof] {
                        assert!(!verify_consistency(
                            signed as u64,
                            grown as u64,
                            &signed_root,
                            &root(forged_tree),
                            &proof
                        ));
                    }
                }
            }
        }
    }

    // --- consistency proofs from a frontier ----------------------------------

    fn streamed_proof(all: &[Hash], old: u64) -> Option<Vec<Hash>> {
        let old_tree: TreeBuilder = all[..old as usize].iter().copied().collect();
        let mut proof = ProofBuilder::new(old, old_tree.frontier(), all.len() as u64)?;
        for leaf in &all[old as usize..] {
            proof.push(*leaf);
        }
        proof.finish()
    }

    #[test]
    fn proofs_from_a_frontier_equal_rfc_9162_proofs_for_every_size_up_to_64() {
        let all = leaves(64);
        for n in 0..=64u64 {
            for m in 0..=n {
                let expected = consistency_proof(&all[..n as usize], m).unwrap();
                assert_eq!(
                    streamed_proof(&all[..n as usize], m).unwrap(),
                    expected,
                    "m={m} n={n}"
                );
            }
        }
    }

    #[test]
    fn proofs_from_a_frontier_verify_for_larger_unbalanced_trees() {
        let all = leaves(1500);
        for (m, n) in [
            (1, 1500),
            (255, 256),
            (256, 257),
            (700, 1499),
            (1023, 1025),
            (999, 1000),
        ] {
            let proof = streamed_proof(&all[..n as usize], m).unwrap();
            assert_eq!(proof, consistency_proof(&all[..n as usize], m).unwrap());
            let old_root = root(&all[..m as usize]);
            let new_root = root(&all[..n as usize]);
            assert!(verify_consistency(m, n, &old_root, &new_root, &proof));
        }
    }

    #[test]
    fn a_proof_is_not_finished_before_its_last_leaf_or_from_a_wrong_frontier() {
        let all = leaves(10);
        let tree: TreeBuilder = all[..5].iter().copied().collect();
        let mut proof = ProofBuilder::new(5, tree.frontier(), 10).unwrap();
        for leaf in &all[5..9] {
            proof.push(*leaf);
        }
        assert!(proof.finish().is_none());
        assert!(ProofBuilder::new(5, &tree.frontier()[..1], 10).is_none());
        assert!(ProofBuilder::new(5, tree.frontier(), 4).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn inclusion_proofs_in_larger_trees_verify_and_resist_mutation(
            size in 1usize..1100,
            index_seed in any::<usize>(),
            element_seed in any::<usize>(),
            byte in 0usize..32,
            flip in 1u8..=255,
            other_size in 1usize..2200,
        ) {
            let all = leaves(size.max(other_size));
            let tree = &all[..size];
            let tree_root = root(tree);
            let index = index_seed % size;
            let (i, n) = (index as u64, size as u64);
            let leaf = tree[index];
            let proof = inclusion_proof(tree, i).unwrap();
            prop_assert!(verify_inclusion(&leaf, i, n, &proof, &tree_root));

            let mut bad_leaf = leaf;
            bad_leaf[byte] ^= flip;
            prop_assert!(!verify_inclusion(&bad_leaf, i, n, &proof, &tree_root));
            let mut bad_root = tree_root;
            bad_root[byte] ^= flip;
            prop_assert!(!verify_inclusion(&leaf, i, n, &proof, &bad_root));
            if !proof.is_empty() {
                let mut forged = proof.clone();
                forged[element_seed % proof.len()][byte] ^= flip;
                prop_assert!(!verify_inclusion(&leaf, i, n, &forged, &tree_root));
            }
            if other_size != size {
                let other_root = root(&all[..other_size]);
                prop_assert!(!verify_inclusion(&leaf, i, other_size as u64, &proof, &other_root));
            }
            let other_index = (index + 1 + element_seed % size.max(2)) % size;
            if other_index != index {
                prop_assert!(!verify_inclusion(&leaf, other_index as u64, n, &proof, &tree_root));
            }
        }

        #[test]
        fn consistency_proofs_in_larger_trees_verify_and_resist_mutation(
            new in 2usize..1100,
            old_seed in any::<usize>(),
            element_seed in any::<usize>(),
            byte in 0usize..32,
            flip in 1u8..=255,
            other_size in 1usize..2200,
        ) {
            let all = leaves(new.max(other_size));
            let tree = &all[..new];
            let old = 1 + old_seed % (new - 1);
            let (m, n) = (old as u64, new as u64);
            let (old_root, new_root) = (root(&tree[..old]), root(tree));
            let proof = consistency_proof(tree, m).unwrap();
            prop_assert!(verify_consistency(m, n, &old_root, &new_root, &proof));

            let mut bad = old_root;
            bad[byte] ^= flip;
            prop_assert!(!verify_consistency(m, n, &bad, &new_root, &proof));
            let mut bad = new_root;
            bad[byte] ^= flip;
            prop_assert!(!verify_consistency(m, n, &old_root, &bad, &proof));
            let mut forged = proof.clone();
            forged[element_seed % proof.len()][byte] ^= flip;
            prop_assert!(!verify_consistency(m, n, &old_root, &new_root, &forged));
            let other_root = root(&all[..other_size]);
            if other_size != old {
                prop_assert!(!verify_consistency(other_size as u64, n, &other_root, &new_root, &proof));
            }
            if other_size != new {
                prop_assert!(!verify_consistency(m, other_size as u64, &old_root, &other_root, &proof));
            }
        }
    }
}
