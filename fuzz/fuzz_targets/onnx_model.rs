#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        // nnsched catches panics inside tract and reports an error, as in
        // production; libfuzzer-sys's hook would abort on them first. A
        // panic escaping nnsched still reaches the harness, which aborts.
        std::panic::set_hook(Box::new(|_| {}));
    },
    |data: &[u8]| {
        let _ = nnsched::fuzz::onnx_model(data);
    }
);
