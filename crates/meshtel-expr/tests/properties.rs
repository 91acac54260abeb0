//! Property tests of the public API: compiling arbitrary text never panics. The parser's
//! round trip and the agreement with the reference evaluator are unit tests of the crate
//! (`src/oracle/properties.rs`), since they need the syntax tree.

use meshtel_expr::{Dialect, Manifest, Program};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,64}") {
        let _ = Program::compile(Dialect::Mixer, &src, &Manifest::istio());
    }
}
