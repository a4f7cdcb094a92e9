//! The scheduling DAG: layers grouped into vertices (a conv or FC layer with
//! the weightless layers that follow it alone), ordered depth-first. This
//! order is the order layers are scheduled in, and the order segments of
//! inter-layer pipelining are cut from.

use crate::network::{LayerId, Network, Source};

/// Vertices of the scheduling DAG in scheduling order; each vertex lists
/// its layers in order.
pub fn dag_vertices(net: &Network) -> Vec<Vec<LayerId>> {
    let mut verts: Vec<Vec<LayerId>> = Vec::new();
    for id in net.ids() {
        if net.layer(id).is_conv() {
            verts.push(vec![id]);
            continue;
        }
        let prevs = net.prevs(id);
        let is_prev = |l: LayerId| prevs.contains(&Source::Layer(l));
        let host = (0..verts.len()).rev().find(|&i| {
            let (tail, head) = verts[i].split_last().expect("vertices are non-empty");
            !head.iter().any(|&h| is_prev(h)) && is_prev(*tail) && net.nexts(*tail).len() == 1
        });
        match host {
            Some(i) => verts[i].push(id),
            None => verts.push(vec![id]),
        }
    }
    topological(net, verts)
}

/// Depth-first topological order: from the first layers (last first), visit
/// successors (last first) and emit vertices in reverse post-order.
fn topological(net: &Network, verts: Vec<Vec<LayerId>>) -> Vec<Vec<LayerId>> {
    let mut vertex_of = vec![0; net.len()];
    for (i, v) in verts.iter().enumerate() {
        for l in v {
            vertex_of[l.0] = i;
        }
    }
    let mut visited = vec![false; verts.len()];
    let mut post = Vec::with_capacity(verts.len());
    fn dfs(
        v: usize,
        net: &Network,
        verts: &[Vec<LayerId>],
        vertex_of: &[usize],
        visited: &mut [bool],
        post: &mut Vec<usize>,
    ) {
        if visited[v] {
            return;
        }
        visited[v] = true;
        let mut nexts: Vec<LayerId> = Vec::new();
        for &l in &verts[v] {
            for &n in net.nexts(l) {
                if !verts[v].contains(&n) && !nexts.contains(&n) {
                    nexts.push(n);
                }
            }
        }
        // Only vertices unvisited now are followed, as in nn_dataflow.
        let follow: Vec<usize> = nexts
            .iter()
            .rev()
            .map(|n| vertex_of[n.0])
            .filter(|&nv| !visited[nv])
            .collect();
        for nv in follow {
            dfs(nv, net, verts, vertex_of, visited, post);
        }
        post.push(v);
    }
    let starts: Vec<usize> = net.firsts().iter().rev().map(|l| vertex_of[l.0]).collect();
    for s in starts {
        dfs(s, net, &verts, &vertex_of, &mut visited, &mut post);
    }
    debug_assert_eq!(post.len(), verts.len());
    post.into_iter().rev().map(|i| verts[i].clone()).collect()
}

/// Layers in scheduling order.
#[cfg(test)]
pub fn schedule_order(net: &Network) -> Vec<LayerId> {
    dag_vertices(net).into_iter().flatten().collect()
}

/// What a vertex depends on: another vertex, or the network's inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dep {
    Inputs,
    Vertex(usize),
}

impl Dep {
    /// Whether this is one of `vs`.
    fn is_in(self, vs: &[usize]) -> bool {
        matches!(self, Dep::Vertex(v) if vs.contains(&v))
    }
}

/// The scheduling DAG with vertex dependencies.
#[derive(Clone, Debug)]
pub struct Dag {
    pub vertices: Vec<Vec<LayerId>>,
    prevs: Vec<Vec<Dep>>,
    nexts: Vec<Vec<usize>>,
}

impl Dag {
    pub fn new(net: &Network) -> Dag {
        let vertices = dag_vertices(net);
        let mut vertex_of = vec![0usize; net.len()];
        for (i, v) in vertices.iter().enumerate() {
            for l in v {
                vertex_of[l.0] = i;
            }
        }
        let mut prevs = vec![Vec::new(); vertices.len()];
        let mut nexts = vec![Vec::new(); vertices.len()];
        for id in net.ids() {
            let v = vertex_of[id.0];
            for p in net.prevs(id) {
                let pv = match p {
                    Source::Layer(l) => Dep::Vertex(vertex_of[l.0]),
                    _ => Dep::Inputs,
                };
                if pv != Dep::Vertex(v) && !prevs[v].contains(&pv) {
                    prevs[v].push(pv);
                }
            }
            for n in net.nexts(id) {
                let nv = vertex_of[n.0];
                if nv != v && !nexts[v].contains(&nv) {
                    nexts[v].push(nv);
                }
            }
        }
        Dag {
            vertices,
            prevs,
            nexts,
        }
    }

    /// Runs of consecutive vertices that may form a segment, in
    /// nn_dataflow's depth-first order: each extends while the next vertex
    /// depends on the run (or shares its inputs) through at most one
    /// vertex, and is kept when no member feeds both the run and more than
    /// one vertex outside it.
    pub fn vertex_segments(&self) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        let mut done = Vec::new();
        self.gen_vseg(0, &mut done, &mut out);
        out
    }

    fn gen_vseg(&self, start: usize, done: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        let mut vseg: Vec<usize> = Vec::new();
        for frontier in start..self.vertices.len() {
            let fprevs = &self.prevs[frontier];
            let share = vseg.is_empty()
                || fprevs
                    .iter()
                    .any(|&p| p.is_in(&vseg) || vseg.iter().any(|&i| self.prevs[i].contains(&p)));
            let multi = fprevs.iter().filter(|&&p| p.is_in(&vseg)).count() > 1;
            if !share || multi {
                break;
            }
            vseg.push(frontier);
            let ok = vseg.iter().all(|&i| {
                let nx = &self.nexts[i];
                let inside = nx.iter().any(|n| vseg.contains(n));
                let outside = nx.iter().filter(|n| !vseg.contains(n)).count();
                !(inside && outside > 1)
            });
            if ok {
                out.push(vseg.clone());
                if done.contains(&(frontier + 1)) {
                    continue;
                }
                self.gen_vseg(frontier + 1, done, out);
            }
        }
        done.push(start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::zoo;

    fn names(net: &Network) -> Vec<&str> {
        schedule_order(net)
            .into_iter()
            .map(|l| net.layer_name(l))
            .collect()
    }

    #[test]
    fn alexnet_order_follows_towers() {
        let net = zoo::get("alex_net").unwrap();
        assert_eq!(
            names(&net),
            [
                "conv1_a", "pool1_a", "conv2_a", "pool2_a", "conv1_b", "pool1_b", "conv2_b",
                "pool2_b", "conv3_a", "conv4_a", "conv5_a", "pool3_a", "conv3_b", "conv4_b",
                "conv5_b", "pool3_b", "fc1", "fc2", "fc3"
            ]
        );
        assert_eq!(dag_vertices(&net).len(), 13);
    }

    #[test]
    fn lstm_order() {
        let net = zoo::get("lstm_phoneme").unwrap();
        assert_eq!(
            names(&net),
            [
                "We",
                "cell_cand",
                "cell_igate",
                "cell_cout_i",
                "cell_fgate",
                "cell_cout_f",
                "cell_cout",
                "cell_ogate",
                "cell_hout",
                "Wd"
            ]
        );
    }
}

#[cfg(test)]
mod vseg_tests {
    use super::*;
    use crate::network::zoo;

    /// Vertex segment counts of nn_dataflow's InterLayerPipeline.
    #[test]
    fn vertex_segment_counts() {
        for (name, verts, vsegs) in [("zfnet", 8, 36), ("vgg_net", 16, 136), ("alex_net", 13, 50)] {
            let dag = Dag::new(&zoo::get(name).unwrap());
            assert_eq!(dag.vertices.len(), verts, "{name}");
            assert_eq!(dag.vertex_segments().len(), vsegs, "{name}");
        }
    }
}
