"""The base layer: ARM ids, ISO-8601 times, the app's settings, the Azure SDK clients and the ARM
call helpers (bounded retries, long-running operations, conditional writes). Every other package may
import it; it imports none of them."""
