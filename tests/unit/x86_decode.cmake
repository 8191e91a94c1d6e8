# The x86 instruction decoder used on MMIO and port-IO exits (kvm_backend/x86-decode.c); the
# test links the decoder directly because it needs nothing but libc.
add_executable(x86_decode_test x86_decode_test.c ${PROJECT_SOURCE_DIR}/kvm_backend/x86-decode.c)
target_include_directories(x86_decode_test PRIVATE ${PROJECT_SOURCE_DIR}/kvm_backend)
add_test(NAME x86_decode COMMAND x86_decode_test)
