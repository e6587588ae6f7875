// Seam: filled by its owner (issue 16 / issue 15).
'use strict';
