// The published types compile in a consumer's project under moduleResolution
// nodenext, with skipLibCheck false (see consumer-types.ts).
import t from 'tap'
import { checkConsumerTypes } from './consumer-types.js'

await checkConsumerTypes(t, 'nodenext')
