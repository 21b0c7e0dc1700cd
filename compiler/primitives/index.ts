/** Registers every primitive family; import this once before tracing or compiling. */
import './sources';
import './elementwise';
import './views';
import './reduce';
import './matmul';
import './conv';
import './scatter';
import './rows';
