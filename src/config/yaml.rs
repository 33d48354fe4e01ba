//! A YAML document as a tree of nodes that know their line and column, so every error in a
//! repo config can point at its place. Anchors and aliases are refused (no YAML bombs), and
//! size, depth and node count are bounded.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

const MAX_BYTES: usize = 1 << 20;
const MAX_DEPTH: usize = 32;
const MAX_NODES: usize = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar and whether it was quoted (a quoted `true` is a string).
    Scalar(String, bool),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub col: usize,
}

/// Where and what went wrong while reading YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Node>,
    /// Keys waiting for their value, per open map (parallel to `stack`).
    pending_keys: Vec<Option<Node>>,
    root: Option<Node>,
    nodes: usize,
    error: Option<YamlError>,
}

impl Builder {
    fn fail(&mut self, mark: Marker, message: &str) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                line: mark.line(),
                col: mark.col() + 1,
                message: message.into(),
            });
        }
    }

    fn push_value(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Node {
                value: Value::Seq(items),
                ..
            }) => items.push(node),
            Some(
                map @ Node {
                    value: Value::Map(_),
                    ..
                },
            ) => {
                let pending = self.pending_keys.last_mut().expect("a map has a key slot");
                let Node {
                    value: Value::Map(entries),
                    line,
                    col,
                } = map
                else {
                    return;
                };
                match pending.take() {
                    None => {
                        // The parser marks a block mapping after its first key: point at the key.
                        if entries.is_empty() {
                            (*line, *col) = (node.line, node.col);
                        }
                        *pending = Some(node)
                    }
                    Some(key) => entries.push((key, node)),
                }
            }
            Some(_) => {}
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let node = |value| Node {
            value,
            line: mark.line(),
            col: mark.col() + 1,
        };
        match ev {
            Event::Alias(_) => self.fail(mark, "anchors and aliases are not supported"),
            Event::Scalar(_, _, anchor, _)
            | Event::SequenceStart(anchor, _)
            | Event::MappingStart(anchor, _)
                if anchor != 0 =>
            {
                self.fail(mark, "anchors and aliases are not supported")
            }
            Event::Scalar(text, style, _, _) => {
                self.nodes += 1;
                self.push_value(node(Value::Scalar(text, style != TScalarStyle::Plain)));
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                self.nodes += 1;
                if self.stack.len() >= MAX_DEPTH {
                    return self.fail(mark, "nested too deeply");
                }
                let is_map = matches!(ev, Event::MappingStart(..));
                self.stack.push(node(if is_map {
                    Value::Map(vec![])
                } else {
                    Value::Seq(vec![])
                }));
                self.pending_keys.push(None);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                self.pending_keys.pop();
                if let Some(done) = self.stack.pop() {
                    self.push_value(done);
                }
            }
            Event::DocumentStart if self.root.is_some() => {
                self.fail(mark, "only one YAML document is allowed")
            }
            _ => {}
        }
        if self.nodes > MAX_NODES {
            self.fail(mark, "too many nodes");
        }
    }
}

/// Parses one YAML document. An empty document is `None`.
pub fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    if text.len() > MAX_BYTES {
        return Err(YamlError {
            line: 1,
            col: 1,
            message: format!("file is over {MAX_BYTES} bytes"),
        });
    }
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let m = e.marker();
        return Err(YamlError {
            line: m.line(),
            col: m.col() + 1,
            message: format!("not valid YAML: {}", e.info()),
        });
    }
    if let Some(e) = builder.error {
        return Err(e);
    }
    Ok(builder.root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn positions_are_one_based() {
        let root = parse("version: 3\nprojects:\n  - dir: a\n")
            .unwrap()
            .unwrap();
        let Value::Map(entries) = &root.value else {
            panic!()
        };
        assert_eq!((entries[0].0.line, entries[0].0.col), (1, 1));
        let Value::Seq(items) = &entries[1].1.value else {
            panic!()
        };
        let Value::Map(project) = &items[0].value else {
            panic!()
        };
        assert_eq!((project[0].0.line, project[0].0.col), (3, 5));
        assert_eq!(project[0].1.value, Value::Scalar("a".into(), false));
    }

    #[test]
    fn bombs_and_junk_are_refused() {
        let bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n";
        assert!(parse(bomb).unwrap_err().message.contains("anchors"));
        assert!(
            parse("a: [")
                .unwrap_err()
                .message
                .starts_with("not valid YAML")
        );
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(parse(&deep).unwrap_err().message, "nested too deeply");
        assert!(
            parse("a: 1\n---\nb: 2\n")
                .unwrap_err()
                .message
                .contains("one YAML document")
        );
        assert_eq!(parse("").unwrap(), None);
        assert!(parse(&"a".repeat(MAX_BYTES + 1)).is_err());
    }

    proptest! {
        #[test]
        fn no_input_panics(text in ".{0,300}") {
            let _ = parse(&text);
        }
    }
}
